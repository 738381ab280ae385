#!/usr/bin/env bash
# The README's test command: set up the environment when needed, then run the test suite.
#   bash tools/run_tests.sh [pytest args...]      e.g.  -m "not slow"   or   -k resume   or  -n 0
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MIM_DET_VENV:-$ROOT/.venv}
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
echo "[tests] $(date -u +%FT%TZ) pytest $*"
START=$(date +%s)
# Test files run in parallel, one pytest-xdist worker per core (at most 4), each file whole on
# one worker (its module fixtures run once), in collection order (the longest files first, see
# tests/conftest.py; xdist would otherwise start with the files holding the most tests); every
# worker and the tools it starts use one OpenMP thread. On 2 cores that nearly halves the suite:
# one thread trains the tiny models only ~10% slower than two, while two 2-thread processes at
# once run 5-15x slower (OpenMP spin-waits).
# MIM_DET_TEST_WORKERS=0 runs the suite in one process with 2 threads.
WORKERS=${MIM_DET_TEST_WORKERS:-$(( $(nproc) < 4 ? $(nproc) : 4 ))}
if [ "$WORKERS" -gt 1 ]; then
  PARALLEL=(-n "$WORKERS" --dist loadfile --no-loadscope-reorder)
  THREADS=1
else
  PARALLEL=()
  THREADS=2
fi
# pytest exits 5 when it collected nothing; that is a failure here too (set -e).
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$THREADS} "$VENV/bin/python" -m pytest tests -ra \
  --durations=15 "${PARALLEL[@]}" "$@"
echo "[tests] suite took $(( $(date +%s) - START ))s"
