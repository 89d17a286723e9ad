#!/usr/bin/env bash
# Creates .venv (Python 3.11+) and installs govshare with the given extras; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "govshare needs Python 3.11 or newer (found $("$python" --version 2>&1))" >&2
  exit 1
fi
# The console's browser tests (tests/integration/browser) drive Debian's Chromium through Playwright; no browser
# is ever downloaded by Playwright. Installed here when missing and we may (root, apt); otherwise said once. On a
# fresh machine (CI) apt's download and unpacking took tens of seconds after pip's had ended: they now run beside
# it, in the background, and are waited for at the end.
chromium_install=""
if [[ ",$extras," == *",test,"* ]] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (export DEBIAN_FRONTEND=noninteractive
     apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) &
    chromium_install=$!
  else
    echo "chromium not found at /usr/bin/chromium: the console's browser tests need it (apt-get install chromium)" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# The install is editable, so code changes need no reinstall; only pyproject.toml (dependencies, entry points)
# does. Installing again when it has not changed cost every `scripts/up` ~7 s and printed setuptools' warning box.
stamp=".venv/.govshare-installed-${extras:-base}"
wanted="$(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  if [ -n "$extras" ]; then
    .venv/bin/python -m pip install --quiet -e ".[$extras]"
  else
    .venv/bin/python -m pip install --quiet -e .
  fi
  echo "$wanted" > "$stamp"
fi
# Chromium's install, started beside pip's above, must have ended well.
if [ -n "$chromium_install" ]; then
  wait "$chromium_install"
fi
