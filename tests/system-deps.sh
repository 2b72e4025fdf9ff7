#!/usr/bin/env bash
# What the test suite needs from the system, installed when missing (Debian packages; `make test` runs this):
# - PostgreSQL: the queue tests start a throwaway cluster of their own with initdb/pg_ctl (tests/pg.py);
# - Chromium: the web page's browser test drives Debian's headless Chromium (tests/browser.py).
set -euo pipefail

missing=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing for the tests: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
