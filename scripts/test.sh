#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls `make test`). Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh || exit 1
bash scripts/test_deps.sh || exit 1
HUB_TEST_POSTGRES_URL=$(bash scripts/ensure_postgres.sh) || exit 1
export HUB_TEST_POSTGRES_URL
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/ruff check . || exit 1
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests: treating as a failure" >&2
  exit 1
fi
exit $rc
