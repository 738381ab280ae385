#!/usr/bin/env bash
# Set up (or check) mim_det's environment: one idempotent step, used by both README commands.
#
#   bash tools/setup_env.sh [--rebuild-mmcv] [--force]
#
# 1. creates a virtualenv in .venv (MIM_DET_VENV overrides) from the system python3;
# 2. installs the pinned build tools, torch/torchvision and requirements.txt;
# 3. installs mmcv 2.1.0 WITH its compiled ops, built against exactly the installed torch. Built
#    wheels are cached in ~/.cache/mim_det/mmcv (MIM_DET_CACHE overrides) under a key made of
#    the mmcv, torch, CUDA and python versions, the machine and the ops kind, so a second set-up
#    on the same machine takes minutes and a wheel built for another torch is never reused;
# 4. installs mim_det in editable mode;
# 5. runs the self-check (tools/check_env.py): mmcv.ops, RoIAlign and nms on CPU, toolbox
#    imports, versions.
# A stamp in the venv skips steps 2-4 when nothing they depend on has changed.
#
# GPU machines: when torch sees a GPU (or MIM_DET_FORCE_CUDA=1) and nvcc is on PATH, mmcv's CUDA
# ops are built too. TORCH_CUDA_ARCH_LIST picks the GPU architectures to compile for, e.g.
#   TORCH_CUDA_ARCH_LIST="9.0" (H100/H200), "8.0" (A100), "8.6" (RTX 30xx), "8.0;9.0" (both);
# default: the capabilities of the visible GPUs. nvcc must match torch.version.cuda.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MIM_DET_VENV:-$ROOT/.venv}
CACHE=${MIM_DET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mim_det}
MMCV_VERSION=2.1.0
REBUILD_MMCV=0
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --rebuild-mmcv) REBUILD_MMCV=1 ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "setup_env: error: unknown argument '$arg' (use --rebuild-mmcv or --force)" >&2; exit 2 ;;
  esac
done

STEP="start"
START_TIME=$(date +%s)
step() { STEP="$1"; echo "[setup $(( $(date +%s) - START_TIME ))s] $1"; }
fail() {
  echo "setup_env: error: step '$STEP' failed: $1" >&2
  exit 1
}
trap 'fail "see the messages above; fix the cause and run bash tools/setup_env.sh again (add --rebuild-mmcv if mmcv is involved)"' ERR

# ---------------------------------------------------------------------------------------------
step "python interpreter"
BASE_PYTHON=${MIM_DET_PYTHON:-}
if [ -z "$BASE_PYTHON" ]; then
  for candidate in python3.11 python3.10 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then BASE_PYTHON=$(command -v "$candidate"); break; fi
  done
fi
[ -n "$BASE_PYTHON" ] || fail "no python3 found; install Python 3.10-3.12 or set MIM_DET_PYTHON"
"$BASE_PYTHON" - <<'PY' || fail "Python 3.10-3.12 is needed (mmcv 2.1.0, torch 2.14); set MIM_DET_PYTHON=/path/to/python3.11"
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)
PY

# ---------------------------------------------------------------------------------------------
step "virtualenv $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$BASE_PYTHON" -m venv "$VENV" || fail "could not create $VENV; install python3-venv (apt-get install python3-venv)"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
# Some machines' pip configuration names local package folders that do not exist; pip warns
# about each one on every call. Those lines carry no information about this set-up.
NOISE='is ignored: it is neither a file nor a directory'
pip_run() {
  local status=0
  "${PIP[@]}" "$@" > >(grep -v "$NOISE" || true) 2> >(grep -v "$NOISE" >&2 || true) || status=$?
  return "$status"
}
# need_free_gb PATH GB WHY: stop with one line when PATH's file system has less than GB free
need_free_gb() {
  local avail_kb
  avail_kb=$(df -Pk "$1" 2>/dev/null | awk 'NR == 2 {print $4}')
  [ -n "$avail_kb" ] || return 0
  if [ "$avail_kb" -lt $(( $2 * 1024 * 1024 )) ]; then
    fail "only $(awk "BEGIN {printf \"%.1f\", $avail_kb / 1048576}") GB free on the disk of $1, $2 GB needed ($3); free space (old clones, work_dirs, ~/.cache/pip) or set MIM_DET_VENV / TMPDIR to a larger disk"
  fi
}
mkdir -p "$CACHE"
exec 9>"$VENV/.setup.lock"
flock 9  # two commands starting set-up at once would race on pip; the second waits

STAMP_FILE="$VENV/.mim_det_setup_stamp"
stamp() {
  {
    cat "$ROOT/requirements.txt" "$ROOT"/requirements/*.txt "$ROOT/pyproject.toml" "$0"
    echo "torch-index=${MIM_DET_TORCH_INDEX_URL:-}"
    echo "force-cuda=${MIM_DET_FORCE_CUDA:-} arch=${TORCH_CUDA_ARCH_LIST:-}"
    "$PY" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
}
WANT_STAMP=$(stamp)

if [ "$FORCE" = 0 ] && [ "$REBUILD_MMCV" = 0 ] && [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$WANT_STAMP" ]; then
  echo "[setup] environment up to date ($VENV); re-checking it"
else
  rm -f "$STAMP_FILE"
  # -------------------------------------------------------------------------------------------
  step "build tools (setuptools with pkg_resources, wheel, ninja)"
  pip_run install -q -r "$ROOT/requirements/build.txt" \
    || fail "pip could not install requirements/build.txt; check network access to PyPI"

  # -------------------------------------------------------------------------------------------
  step "torch and torchvision (requirements/torch.txt)"
  TORCH_PIN=$(sed -n 's/^torch==//p' "$ROOT/requirements/torch.txt")
  if [ "$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)" != "$TORCH_PIN" ]; then
    # the torch/torchvision pair takes about 5.6 GB in the venv plus pip's unpacked copy in
    # TMPDIR; on a full disk pip dies half-way with a bare OSError
    need_free_gb "$VENV" 7 "torch $TORCH_PIN and torchvision take about 5.6 GB in the venv"
    need_free_gb "${TMPDIR:-/tmp}" 3 "pip unpacks torch there before installing it"
  fi
  TORCH_ARGS=(-r "$ROOT/requirements/torch.txt")
  if [ -n "${MIM_DET_TORCH_INDEX_URL:-}" ]; then TORCH_ARGS+=(--index-url "$MIM_DET_TORCH_INDEX_URL"); fi
  pip_run install -q "${TORCH_ARGS[@]}" \
    || fail "pip could not install torch/torchvision; check PyPI access or MIM_DET_TORCH_INDEX_URL"

  # -------------------------------------------------------------------------------------------
  step "run-time requirements (requirements.txt)"
  pip_run install -q -r "$ROOT/requirements.txt" \
    || fail "pip could not install requirements.txt"

  # -------------------------------------------------------------------------------------------
  step "mmcv $MMCV_VERSION with compiled ops"
  # What the wheel depends on: mmcv/torch/CUDA/python versions, machine, and which ops it has.
  BUILD_INFO=$("$PY" - <<'PY'
import os, platform, shutil, sys
import torch
cuda_ops = False
if os.environ.get('MIM_DET_FORCE_CUDA') == '1' or torch.cuda.is_available():
    cuda_ops = shutil.which('nvcc') is not None and torch.version.cuda is not None
arch = os.environ.get('TORCH_CUDA_ARCH_LIST', '')
if cuda_ops and not arch and torch.cuda.is_available():
    caps = sorted({torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})
    arch = ';'.join(f'{a}.{b}' for a, b in caps)
ops = f'cuda{torch.version.cuda}-sm{arch.replace(";", "_").replace(".", "")}' if cuda_ops else 'cpuops'
key = (f'mmcv2.1.0-torch{torch.__version__}-py{sys.version_info[0]}{sys.version_info[1]}-'
       f'{platform.machine()}-{ops}')
print(key, int(cuda_ops), arch or '-')
PY
  ) || fail "torch does not import in $VENV; run bash tools/setup_env.sh --force"
  read -r MMCV_KEY CUDA_OPS CUDA_ARCH <<<"$BUILD_INFO"
  WHEEL_DIR="$CACHE/mmcv/$MMCV_KEY"
  INSTALLED_KEY=$(cat "$VENV/.mmcv_build_key" 2>/dev/null || true)
  if [ "$REBUILD_MMCV" = 1 ]; then rm -rf "$WHEEL_DIR"; INSTALLED_KEY=""; fi
  WHEEL=$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$WHEEL" ]; then
    echo "[setup] no cached mmcv build for $MMCV_KEY: compiling (15-25 min on 2 CPU cores)"
    if [ "$CUDA_OPS" = 1 ]; then
      echo "[setup] building CUDA ops for TORCH_CUDA_ARCH_LIST=$CUDA_ARCH"
      export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$CUDA_ARCH"
    else
      export FORCE_CUDA=0
    fi
    BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mim_det_mmcv_build.XXXXXX")
    # --no-build-isolation: preparing the metadata runs setup.py, which needs pkg_resources
    # (setuptools < 81 in this venv), not the newest setuptools of an isolated build env.
    pip_run download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD_DIR" \
      || fail "could not download the mmcv $MMCV_VERSION source from PyPI"
    tar -xzf "$BUILD_DIR"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD_DIR"
    SRC="$BUILD_DIR/mmcv-$MMCV_VERSION"
    # torch >= 2.10 headers refuse to compile below C++20; mmcv 2.1.0 hard-codes C++14/17.
    TORCH_INCLUDE=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))')
    if grep -qs "C++20 or later" "$TORCH_INCLUDE/ATen/ATen.h"; then
      sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$SRC/setup.py"
      echo "[setup] torch needs C++20: patched mmcv's setup.py compiler flags"
    fi
    # --no-build-isolation: without it pip builds in an environment without torch and mmcv
    # comes out with NO ops, silently. --no-cache-dir: pip's own wheel cache is not keyed by
    # torch version and would hand back a wheel built for another torch.
    (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "${PIP[@]}" wheel --no-build-isolation --no-deps --no-cache-dir . -w "$BUILD_DIR/wheel" \
      > "$BUILD_DIR/build.log" 2>&1) \
      || { tail -n 30 "$BUILD_DIR/build.log" >&2; fail "mmcv compilation failed (log: $BUILD_DIR/build.log); check gcc/g++ (and nvcc for CUDA) are installed"; }
    mkdir -p "$CACHE/mmcv"
    PARTIAL="$WHEEL_DIR.partial.$$"
    mkdir -p "$PARTIAL"
    cp "$BUILD_DIR"/wheel/mmcv-*.whl "$PARTIAL/"
    echo "$MMCV_KEY built $(date -u +%FT%TZ)" > "$PARTIAL/BUILD_INFO"
    rm -rf "$WHEEL_DIR"
    mv "$PARTIAL" "$WHEEL_DIR"  # the cache entry appears complete or not at all
    rm -rf "$BUILD_DIR"
    WHEEL=$(ls "$WHEEL_DIR"/mmcv-*.whl | head -n 1)
  else
    echo "[setup] using cached mmcv build $WHEEL_DIR"
  fi
  if [ "$INSTALLED_KEY" != "$MMCV_KEY" ] || ! "$PY" -c 'import mmcv' >/dev/null 2>&1; then
    pip_run install -q --no-deps --force-reinstall "$WHEEL" || fail "could not install $WHEEL"
    echo "$MMCV_KEY" > "$VENV/.mmcv_build_key"
  fi

  # -------------------------------------------------------------------------------------------
  step "mim_det (editable install)"
  # setuptools' editable-install warnings are noise here; the log is shown on failure.
  pip_run install -q --no-deps --no-build-isolation -e "$ROOT" > "$VENV/.editable_install.log" 2>&1 \
    || { cat "$VENV/.editable_install.log" >&2; fail "could not install mim_det from $ROOT in editable mode"; }
fi

# ---------------------------------------------------------------------------------------------
step "self-check (tools/check_env.py)"
"$PY" "$ROOT/tools/check_env.py" || fail "the self-check above names the broken piece and its fix"
echo "$WANT_STAMP" > "$STAMP_FILE"
trap - ERR
echo "[setup $(( $(date +%s) - START_TIME ))s] done: activate with  . $VENV/bin/activate"
