#!/usr/bin/env bash
# The README's test command: set up the environment when needed, then run the test suite.
#   bash tools/run_tests.sh [pytest args...]      e.g.  -m "not slow"   or   -k resume
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MIM_DET_VENV:-$ROOT/.venv}
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
echo "[tests] $(date -u +%FT%TZ) pytest $*"
START=$(date +%s)
# pytest exits 5 when it collected nothing; that is a failure here too (set -e).
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$VENV/bin/python" -m pytest tests -ra --durations=15 "$@"
echo "[tests] suite took $(( $(date +%s) - START ))s"
