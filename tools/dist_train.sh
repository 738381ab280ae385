#!/usr/bin/env bash
# Distributed training with torchrun, single- or multi-node.
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node, e.g.
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh CONFIG 8
# Without a GPU, GPUS processes run on the CPU and communicate over gloo.
set -euo pipefail
CONFIG=${1:?usage: dist_train.sh CONFIG GPUS [args...]}
GPUS=${2:?usage: dist_train.sh CONFIG GPUS [args...]}
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python}
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$HERE/../.venv/bin/python" ] && [ "$PYTHON" = python ]; then
  PYTHON="$HERE/../.venv/bin/python"
fi
export PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m torch.distributed.run \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$GPUS" --master_port="$PORT" \
  "$HERE/train.py" "$CONFIG" --launcher pytorch "$@"
