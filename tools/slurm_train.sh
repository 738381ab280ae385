#!/usr/bin/env bash
# Training under Slurm: one task per GPU, started by srun; mmengine reads the SLURM_* variables.
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args...]
# Variables: GPUS (total, default 8), GPUS_PER_NODE (default 8), CPUS_PER_TASK (default 5),
# SRUN_ARGS (extra srun flags, e.g. "--quotatype=reserved").
set -euo pipefail
PARTITION=${1:?usage: slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [args...]}
JOB_NAME=${2:?usage: slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [args...]}
CONFIG=${3:?usage: slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [args...]}
shift 3
WORK_DIR_ARGS=()
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then
  WORK_DIR_ARGS=(--work-dir "$1")
  shift
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}"
# shellcheck disable=SC2086
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" \
  --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 $SRUN_ARGS \
  python -u "$HERE/train.py" "$CONFIG" "${WORK_DIR_ARGS[@]}" --launcher slurm "$@"
