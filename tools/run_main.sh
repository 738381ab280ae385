#!/usr/bin/env bash
# The README's main command: the comparison table on the embedded default data.
#   bash tools/run_main.sh [--methods all | scratch,lomar,mae] [--seeds 0,1,2] [...]
#   (MIM_DET_DATA=data, MIM_DET_WORK=work_dirs/main; arguments go to tools/compare_methods.py)
# 1. generate the embedded default data (deterministic; skipped when already up to date):
#    many unlabeled images for pretraining, few labelled COCO / ADE20k images for fine-tuning
# 2. tools/compare_methods.py: for each method of the default set (scratch, LoMaR, MAE) tiny
#    pretraining -> backbone export -> reconstruction grids, then the tiny ViTDet Mask R-CNN
#    (CocoMetric, drawn predictions) and the tiny UperNet (IoUMetric) fine-tuned from the export
#    and from scratch with the same recipe; the table is printed and written as
#    $MIM_DET_WORK/table.{md,csv} and gains.png. Finished steps are skipped on a rerun.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MIM_DET_VENV:-$ROOT/.venv}
DATA=${MIM_DET_DATA:-data}
WORK=${MIM_DET_WORK:-work_dirs/main}
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
PY="$VENV/bin/python"
START=$(date +%s)
mkdir -p "$WORK"

echo "== [1/2] embedded default data -> $DATA/"
"$PY" tools/generate_data.py --out-dir "$DATA"

echo "== [2/2] pretraining, fine-tuning and evaluation ($(( $(date +%s) - START ))s so far)"
"$PY" tools/compare_methods.py --data "$DATA" --work-dir "$WORK" "$@"

echo "== done in $(( $(date +%s) - START ))s: table $WORK/table.md, chart $WORK/gains.png," \
  "step logs $WORK/logs/, TensorBoard: $VENV/bin/tensorboard --logdir $WORK"
