#!/usr/bin/env bash
# Evaluation under Slurm (see slurm_train.sh for the variables).
#   GPUS=8 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
set -euo pipefail
PARTITION=${1:?usage: slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args...]}
JOB_NAME=${2:?usage: slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args...]}
CONFIG=${3:?usage: slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args...]}
CHECKPOINT=${4:?usage: slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args...]}
shift 4
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
  python -u "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher slurm "$@"
