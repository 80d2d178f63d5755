#!/usr/bin/env bash
# One command: set up, lint, then run the whole test suite against real Ray, Redis and Milvus.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1
. .venv/bin/activate
ruff check . || exit 1
python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
