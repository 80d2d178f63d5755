#!/usr/bin/env bash
# Sets up everything Paleon needs on a Debian/Ubuntu machine with Python 3.11+: redis-server
# (for the embedded default and the tests) and a virtual environment in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Debian's Chromium: the browser the web page's tests drive (tests/test_web.py, Playwright).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Debian ships venv's pip bootstrap separately.
"$PYTHON" -c "import ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"Paleon needs Python 3.11+, found {sys.version.split()[0]}")
PY
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU build first: a torch range resolved later would otherwise pull a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0" || python -m pip install -q "torch==2.13.0" \
  --index-url https://download.pytorch.org/whl/cpu
python -m pip install -q -e ".[test]"
