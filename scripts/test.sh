#!/usr/bin/env bash
# One command: set up, lint and type-check, then run the whole test suite against real Ray, Redis and Milvus.
# Two pytest runs: the suite (one Ray + Serve session), then the tests marked `cluster`
# (`ray start` / `serve deploy` / `ray stop`, which would stop the first run's Ray).
# Extra arguments go to both runs. Collecting no tests (pytest's exit 5) is a failure; with
# test paths named, one of the two runs may collect nothing, but not both.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1
. .venv/bin/activate
ruff check . || exit 1
mypy || exit 1

paths=no
for arg in "$@"; do
  case "$arg" in
    -m|-m*) echo "scripts/test.sh picks the markers itself; run pytest directly for -m" >&2
            exit 2 ;;
    -*) ;;
    *) [ -e "${arg%%::*}" ] && paths=yes ;;
  esac
done

python -m pytest -m "not cluster" "$@"
first=$?
python -m pytest -m cluster "$@"
second=$?
if [ "$paths" = yes ] && [ "$first$second" != 55 ]; then
  [ "$first" -eq 5 ] && first=0
  [ "$second" -eq 5 ] && second=0
fi
for status in "$first" "$second"; do
  if [ "$status" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
  if [ "$status" -ne 0 ]; then exit "$status"; fi
done
