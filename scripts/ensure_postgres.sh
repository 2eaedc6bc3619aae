#!/usr/bin/env bash
# Make sure a PostgreSQL server answers for the tests. Uses HUB_TEST_POSTGRES_URL's server when it answers;
# otherwise installs Debian's postgresql and starts a private cluster on a free port, printing the URL to use.
set -euo pipefail
url=${HUB_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
if command -v pg_isready >/dev/null && pg_isready -q -d "${url/+psycopg/}" 2>/dev/null; then
  echo "$url"; exit 0
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
data=${HUB_TEST_PGDATA:-/var/tmp/crmhub-pg}
port=${HUB_TEST_PGPORT:-55432}
if [ ! -f "$data/PG_VERSION" ]; then
  mkdir -p "$data" && chown postgres "$data"
  su postgres -c "$bin/initdb -A trust -U postgres -D $data" >&2
fi
if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  su postgres -c "$bin/pg_ctl -D $data -o '-p $port -k /tmp -c listen_addresses=127.0.0.1' -l $data/log -w start" >&2
fi
echo "postgresql://postgres@127.0.0.1:$port/postgres"
