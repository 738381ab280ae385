#!/usr/bin/env bash
# The README's main command: the whole chain that exists today, on the embedded default data.
#   bash tools/run_main.sh            (MIM_DET_DATA=data, MIM_DET_WORK=work_dirs/main)
# 1. generate the embedded default data (deterministic; skipped when already up to date)
# 2. tiny LoMaR pretraining on the generated images, backbone export (safetensors + metadata),
#    reconstruction grids for two images
# 3. tiny ViTDet Mask R-CNN fine-tuned from that export on the generated COCO data, then
#    tools/test.py with CocoMetric (bbox + segm) and drawn predictions
# 4. tiny UperNet fine-tuned from the same export on the generated ADE20k data, then
#    tools/test.py with IoUMetric (aAcc, mIoU, mAcc, per-class table)
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
elapsed() { echo "$(( $(date +%s) - START ))s"; }

echo "== [1/4] embedded default data -> $DATA/ ($(elapsed))"
"$PY" tools/generate_data.py --out-dir "$DATA"

echo "== [2/4] tiny LoMaR pretraining, backbone export, reconstructions ($(elapsed))"
LOMAR_CFG=configs/lomar/pretrain_tiny_embedded.py
"$PY" tools/train.py "$LOMAR_CFG" --work-dir "$WORK/lomar_pretrain" \
  --cfg-options train_dataloader.dataset.data_root="$DATA/pretrain" default_hooks.logger.interval=20 \
  > "$WORK.lomar.log" 2>&1 || { tail -n 40 "$WORK.lomar.log"; exit 1; }
"$PY" - "$WORK/lomar_pretrain" <<'PY'
import json, glob, sys
rows = [json.loads(l) for f in sorted(glob.glob(f'{sys.argv[1]}/*/vis_data/scalars.json'))[-1:]
        for l in open(f) if '"loss"' in l]
print(f'LoMaR loss: iteration {rows[0]["iter"]}: {rows[0]["loss"]:.4f} -> '
      f'iteration {rows[-1]["iter"]}: {rows[-1]["loss"]:.4f}')
PY
LOMAR_CKPT=$(cat "$WORK/lomar_pretrain/last_checkpoint")
"$PY" tools/export_backbone.py "$LOMAR_CKPT" "$WORK/lomar_pretrain/backbone.safetensors"
"$PY" tools/visualize_reconstruction.py "$LOMAR_CFG" "$LOMAR_CKPT" \
  "$DATA"/pretrain/train/images/000000.jpg "$DATA"/pretrain/train/images/000001.jpg \
  --out-dir "$WORK/lomar_pretrain/reconstructions" 2>/dev/null

echo "== [3/4] tiny ViTDet Mask R-CNN from the LoMaR export on the embedded COCO data ($(elapsed))"
DET_CFG=configs/vitdet/lomar_maskrcnn_tiny_embedded.py
DET_OPTS=(model.backbone.init_cfg.checkpoint="$WORK/lomar_pretrain/backbone.safetensors"
          train_dataloader.dataset.data_root="$DATA/coco/" val_dataloader.dataset.data_root="$DATA/coco/"
          test_dataloader.dataset.data_root="$DATA/coco/"
          val_evaluator.ann_file="$DATA/coco/annotations/instances_val2017.json"
          test_evaluator.ann_file="$DATA/coco/annotations/instances_val2017.json")
"$PY" tools/train.py "$DET_CFG" --work-dir "$WORK/vitdet" --no-validate \
  --cfg-options "${DET_OPTS[@]}" > "$WORK.vitdet.log" 2>&1 \
  || { tail -n 40 "$WORK.vitdet.log"; exit 1; }
grep -m1 -A5 "load_vit_checkpoint:" "$WORK.vitdet.log" | sed "s/^.* - mmengine - [A-Z]* - //" || true
CKPT=$(cat "$WORK/vitdet/last_checkpoint")
"$PY" tools/test.py "$DET_CFG" "$CKPT" --work-dir "$WORK/vitdet" --show-dir "$WORK/vitdet/vis" \
  --cfg-options "${DET_OPTS[@]}" test_dataloader.dataset.indices=8 > "$WORK.vitdet_vis.log" 2>&1 \
  || { tail -n 40 "$WORK.vitdet_vis.log"; exit 1; }
"$PY" tools/test.py "$DET_CFG" "$CKPT" --work-dir "$WORK/vitdet" --cfg-options "${DET_OPTS[@]}" \
  2>&1 | tee "$WORK.vitdet_test.log" | sed -n '/Evaluation report/,$p'

echo "== [4/4] tiny UperNet from the LoMaR export on the embedded ADE20k data ($(elapsed))"
SEG_CFG=configs/upernet/lomar_upernet_tiny_embedded.py
SEG_OPTS=(model.backbone.init_cfg.checkpoint="$WORK/lomar_pretrain/backbone.safetensors"
          train_dataloader.dataset.data_root="$DATA/ade/ADEChallengeData2016"
          val_dataloader.dataset.data_root="$DATA/ade/ADEChallengeData2016"
          test_dataloader.dataset.data_root="$DATA/ade/ADEChallengeData2016")
"$PY" tools/train.py "$SEG_CFG" --work-dir "$WORK/upernet" --no-validate \
  --cfg-options "${SEG_OPTS[@]}" > "$WORK.upernet.log" 2>&1 \
  || { tail -n 40 "$WORK.upernet.log"; exit 1; }
CKPT=$(cat "$WORK/upernet/last_checkpoint")
"$PY" tools/test.py "$SEG_CFG" "$CKPT" --work-dir "$WORK/upernet" \
  --cfg-options "${SEG_OPTS[@]}" > "$WORK.upernet_test.log" 2>&1 \
  || { tail -n 40 "$WORK.upernet_test.log"; exit 1; }
grep -E '^[|+]' "$WORK.upernet_test.log" || true   # IoUMetric's per-class table
sed -n '/Evaluation report/,$p' "$WORK.upernet_test.log"

echo "== done in $(elapsed): logs $WORK.*.log, checkpoints and drawn predictions under $WORK/"
