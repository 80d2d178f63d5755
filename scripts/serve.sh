#!/usr/bin/env bash
# One command: set up, then run Paleon on its embedded default (http://127.0.0.1:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. .venv/bin/activate
exec paleon serve "$@"
