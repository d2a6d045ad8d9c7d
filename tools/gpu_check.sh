#!/usr/bin/env bash
# The prepared check for a lent GPU (at most 8 minutes): paper-preset baseline and SAAT steps with AMP and
# channels_last -> outputs/benchmarks/gpu.md + gpu.json (copied to $OUT when the device tool runs it).
#
# The device machine has torch but not fastai and its small dependencies, and reaches no registry. So first,
# here:   bash tools/gpu_check.sh --wheels     (downloads them into .whl/, git-ignored)
# then, through the device tool:   run(command="bash tools/gpu_check.sh", carry=[".whl"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS="fastai==2.8.12 fastcore==2.2.41 fastprogress==1.1.6 fasttransform==0.0.5 fastdownload==0.0.8 plum-dispatch==2.9.0 beartype==0.23.1"   # the versions tools/install.sh pins here
if [ "${1:-}" = "--wheels" ]; then
  mkdir -p .whl
  for w in $WHEELS; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl "$w"
  done
  ls .whl; exit 0
fi
if ! python3 -c "import fastai" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
timeout 480 python3 tools/gpu_check.py --steps 6 "$@"
if [ -n "${OUT:-}" ]; then cp outputs/benchmarks/gpu.md outputs/benchmarks/gpu.json "$OUT/"; fi
