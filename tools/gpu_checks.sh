#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run of about 8 minutes on one H100/H200-class GPU:
#
#   bash tools/gpu_checks.sh [OUT_DIR]         (default work_dirs/gpu_checks)
#   OFFICIAL_LOMAR=/path/to/junchen14-LoMaR-checkout bash tools/gpu_checks.sh
#
# 1. the environment (GPU, torch, CUDA);
# 2. tests/test_gpu.py: folded / chunked / FlexAttention position biases against the explicit
#    (N, N) bias on CUDA, fp32 within 1e-5, bf16 and fp16 autocast within 1e-2 (issue 17);
# 3. benchmark_vitdet_backbone.py --device cuda --amp bf16: ViT-B/16 at 1024 px, batch 1, the
#    three position layouts (vitdet, lomar, beit), today's explicit bias through SDPA against
#    chunked / folded and FlexAttention, and with every block compiled (compile_blocks=True);
#    time and peak memory side by side;
# 4. AMP through the runner: the tiny LoMaR pretraining with tools/train.py --amp
#    (mmengine AmpOptimWrapper: fp16 autocast, dynamic loss scale), 40 iterations on
#    generated data;
# 5. mmengine's compile=True (torch.compile of the whole train_step) and the backbone's
#    compile_blocks=True on the same training;
# 6. benchmark_pretrain_throughput.py --device cuda --amp: LoMaR and MAE pretraining steps at
#    224 and 448 px, beside the official LoMaR code when OFFICIAL_LOMAR names a checkout.
# Needs the project's environment (bash tools/setup_env.sh on the GPU machine) or, on a bare
# machine with torch, mmengine 0.10.7, mmpretrain 1.2.0, mmdet 3.3.0, mmsegmentation 1.2.2 and
# mmcv 2.1.0 (without its compiled ops: nothing here calls them) on PYTHONPATH; PYTHON names
# the interpreter. mmpretrain 1.2.0 fails to import beside transformers >= 5 (its BLIP models
# subclass a class that no longer imports): uninstall transformers there or use the pinned set.
# GPU_CHECKS_PARTS="tests backbone-vitdet ..." runs only the parts it names (env, tests,
# backbone-lomar, backbone-vitdet, backbone-beit, amp-data, amp-train, compile-train,
# compile-blocks-train, pretrain-throughput), e.g. to re-run what a short GPU loan did not reach.
# Everything prints to OUT_DIR/gpu_checks.log; each benchmark also writes its rows as JSON there.
# The generated data and the training's work dir go to GPU_CHECKS_WORK (default OUT_DIR/work).
# One failing part does not stop the others; the exit status is that of the first failure.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${1:-work_dirs/gpu_checks}
PY=${PYTHON:-python}
[ -x "$ROOT/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$ROOT/.venv/bin/python"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/gpu_checks.log"
export PYTHONUNBUFFERED=1
STATUS=0

part() {  # part NAME TIMEOUT_S COMMAND...: run, log, remember the first failure
  local name=$1 limit=$2 start rc
  shift 2
  if [ -n "${GPU_CHECKS_PARTS:-}" ] && ! [[ " $GPU_CHECKS_PARTS " == *" $name "* ]]; then
    return 0
  fi
  start=$(date +%s)
  echo "=== [$name] $*" | tee -a "$LOG"
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  echo "=== [$name] rc=$rc in $(( $(date +%s) - start )) s" | tee -a "$LOG"
  [ "$rc" -ne 0 ] && [ "$STATUS" -eq 0 ] && STATUS=$rc
  return 0
}

part env 60 "$PY" -c "
import torch
assert torch.cuda.is_available(), 'no CUDA device visible to torch'
p = torch.cuda.get_device_properties(0)
print(f'{p.name}, {p.total_memory / 2**30:.0f} GiB, capability {p.major}.{p.minor}; '
      f'torch {torch.__version__}, CUDA {torch.version.cuda}')"

part tests 240 "$PY" -m pytest -q -s -p no:cacheprovider tests/test_gpu.py

for layout in lomar vitdet beit; do
  variants="sdpa chunked flex sdpa+compile flex+compile"
  [ "$layout" = vitdet ] && variants="sdpa folded flex naive sdpa+compile folded+compile"
  part "backbone-$layout" 300 "$PY" tools/analysis/benchmark_vitdet_backbone.py --device cuda \
    --amp bf16 --rel-pos "$layout" --variants $variants --warmup 3 --iters 10 --repeats 1 \
    --json "$OUT/backbone_$layout.json"
done

WORK=${GPU_CHECKS_WORK:-$OUT/work}
DATA="$WORK/data"
part amp-data 60 "$PY" tools/generate_data.py --out-dir "$DATA" --num-pretrain 64 \
  --num-coco-train 2 --num-coco-val 2 --num-ade-train 2 --num-ade-val 2 \
  --num-classify-train 6 --num-classify-val 6
part amp-train 150 "$PY" tools/train.py configs/lomar/pretrain_tiny_embedded.py --amp \
  --work-dir "$WORK/amp_lomar" --cfg-options "train_dataloader.dataset.data_root=$DATA/pretrain" \
  train_cfg.max_iters=40 default_hooks.logger.interval=10 default_hooks.checkpoint.interval=40

# mmengine's own switch: torch.compile of the whole train_step, optimizer step included
part compile-train 200 "$PY" tools/train.py configs/lomar/pretrain_tiny_embedded.py \
  --work-dir "$WORK/compile_lomar" \
  --cfg-options "train_dataloader.dataset.data_root=$DATA/pretrain" \
  compile=True train_cfg.max_iters=40 default_hooks.logger.interval=10 \
  default_hooks.checkpoint.interval=40
# the backbone's own switch: every block compiled in place (compile_blocks=True)
part compile-blocks-train 200 "$PY" tools/train.py configs/lomar/pretrain_tiny_embedded.py \
  --work-dir "$WORK/compile_blocks_lomar" \
  --cfg-options "train_dataloader.dataset.data_root=$DATA/pretrain" \
  model.backbone.compile_blocks=True train_cfg.max_iters=40 default_hooks.logger.interval=10 \
  default_hooks.checkpoint.interval=40

OFFICIAL=()
if [ -n "${OFFICIAL_LOMAR:-}" ]; then
  if (cd "$OFFICIAL_LOMAR" && "$PY" -c "import models_lomar" >>"$LOG" 2>&1); then
    OFFICIAL=(--official-lomar "$OFFICIAL_LOMAR")
  else
    echo "gpu_checks: the official LoMaR code at $OFFICIAL_LOMAR does not import (above);" \
      "measuring mim_det alone" | tee -a "$LOG"
  fi
fi
part pretrain-throughput 200 "$PY" tools/analysis/benchmark_pretrain_throughput.py \
  --device cuda --amp --sizes 224 448 --profile "${OFFICIAL[@]}" \
  --json "$OUT/pretrain_throughput.json"

echo "gpu_checks: done, status $STATUS; log $LOG" | tee -a "$LOG"
exit "$STATUS"
