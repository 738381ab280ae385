#!/usr/bin/env bash
# Training under Slurm: one task per GPU, started by srun; mmengine reads the SLURM_* variables.
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args...]
# Variables: GPUS (total, default 8), GPUS_PER_NODE (default 8), CPUS_PER_TASK (default 5),
# SRUN_ARGS (extra srun flags, e.g. "--quotatype=reserved").
# Preemption: on SIGTERM / SIGUSR1 train.py checkpoints at the next iteration boundary and exits
# 75. Inside an sbatch job the script then requeues it (scontrol requeue; the requeued job runs
# this script again, and SLURM_RESTART_COUNT > 0 makes it pass --resume); started outside a
# batch job it runs srun again with --resume. MAX_REQUEUES (default 10) bounds the restarts of
# one invocation; MAX_REQUEUES=0 turns requeueing off.
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
MAX_REQUEUES=${MAX_REQUEUES:-10}
PREEMPTED=75  # train.py's exit status after a preemption checkpoint (EX_TEMPFAIL)
TRAIN_ARGS=("$@")
resume_args() {  # --resume unless the arguments already say how to resume
  for arg in "${TRAIN_ARGS[@]}"; do [ "$arg" = --resume ] && return; done
  echo --resume
}
RESUME=()
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
  RESUME=($(resume_args))
fi
restarts=0
while true; do
  status=0
  # shellcheck disable=SC2086
  srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 $SRUN_ARGS \
    python -u "$HERE/train.py" "$CONFIG" "${WORK_DIR_ARGS[@]}" --launcher slurm \
    "${TRAIN_ARGS[@]}" "${RESUME[@]}" || status=$?
  if [ "$status" -ne "$PREEMPTED" ] || [ "$restarts" -ge "$MAX_REQUEUES" ]; then
    exit "$status"
  fi
  restarts=$((restarts + 1))
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    echo "slurm_train.sh: preempted (checkpoint written); requeueing job $SLURM_JOB_ID" >&2
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
  fi
  echo "slurm_train.sh: preempted (checkpoint written); starting again with --resume" \
    "(restart $restarts of at most $MAX_REQUEUES)" >&2
  RESUME=($(resume_args))
done
