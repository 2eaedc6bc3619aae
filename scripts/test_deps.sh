#!/usr/bin/env bash
# System packages the test suite's real counterparts need: Dovecot (IMAP), Chromium (UI), Node (Prism mocks).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v dovecot >/dev/null || need+=(dovecot-imapd)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v npm >/dev/null || need+=(nodejs npm)
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
if [ -f package.json ] && [ ! -x node_modules/.bin/prism ]; then
  npm install --no-audit --no-fund --silent
fi
