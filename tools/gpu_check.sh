#!/usr/bin/env bash
# The GPU checks of issue 16, as one script for a machine with an NVIDIA GPU: what is there (driver, CUDA,
# PyTorch, TensorRT), the default bundle's FP16 plans through tools/build_engine.py, the TensorRT tests, the
# engine benchmark, and a DDP smoke (torchrun, one process per GPU, NCCL, mixed precision, 20 steps of the
# paper config on generated video). Every step's log and a summary table go under $OUT.
#
#   OUT=out/gpu_check bash tools/gpu_check.sh
#
# Installing: where a package index is reachable, the train,live,trt,test extras are installed into a
# fresh venv (TensorRT 10 and pycuda included). Where it is not (a sealed machine), wheels carried in
# .whl/ are installed into /tmp/site and the machine's own Python (with its CUDA PyTorch) is used; Debian
# OpenGL packages carried in .gl/ are unpacked for the generator's EGL rendering.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-out/gpu_check}"
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$OUT"
summary="$OUT/summary.md"
printf "| step | exit | seconds |\n|---|---:|---:|\n" > "$summary"

step() {  # step NAME COMMAND...: run it, log it, add a row; never stops the script
  local name=$1 start rc
  shift
  start=$(date +%s)
  echo "== $name: $*" | tee -a "$OUT/all.log"
  "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  tail -n 15 "$OUT/$name.log" | tee -a "$OUT/all.log"
  echo "| $name | $rc | $(( $(date +%s) - start )) |" >> "$summary"
  return 0
}

environment() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  nvidia-smi | head -n 4
  python3 - <<'EOF'
import importlib.util, platform, sys
print("python", platform.python_version(), sys.executable)
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-", "nccl", torch.cuda.nccl.version() if torch.cuda.is_available() else "-")
for name in ("tensorrt", "pycuda", "onnxruntime", "onnx", "numpy", "cv2", "mediapipe", "moderngl", "pydantic"):
    spec = importlib.util.find_spec(name)
    version = "-"
    if spec is not None:
        try:
            version = getattr(__import__(name), "__version__", "?")
        except Exception as exc:  # noqa: BLE001 - report, don't stop
            version = f"present but fails to import: {exc}"
    print(f"{name:12s} {'missing' if spec is None else version}")
try:
    import onnxruntime as ort
    print("onnxruntime providers", ort.get_available_providers())
except ImportError:
    pass
EOF
  echo "package index reachable:"
  timeout 15 python3 -m pip download --no-deps -d "$WORK/probe" tensorrt-cu13-libs 2>&1 | tail -n 3
}

install_sealed() {  # carried wheels and OpenGL libraries; the machine's Python keeps its CUDA PyTorch
  if ls .whl/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  fi
  if ls .gl/*.deb > /dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  echo "installed: $(ls .whl 2>/dev/null | tr '\n' ' ')"
}

install_index() {
  python3 -m venv "$WORK/venv" && "$WORK/venv/bin/python" -m pip install -q -c tools/constraints.txt -e ".[train,live,trt,test]"
}

step environment environment
if [ -z "${SEALED:-}" ] && timeout 15 python3 -m pip download -q --no-deps -d "$WORK/probe2" pip > /dev/null 2>&1; then
  step install install_index
  PY="$WORK/venv/bin/python"
else
  step install install_sealed
  export PYTHONPATH="/tmp/site:$PWD"
  PY=python3
fi
export PYTHONUNBUFFERED=1

step build_engine "$PY" tools/build_engine.py training/checkpoints/lite_default.pt --out "$WORK/bundle"
step test_tensorrt "$PY" -m pytest -q -rs tests/test_tensorrt.py
if "$PY" -c "import tensorrt" > /dev/null 2>&1; then  # without TensorRT it would only time the CPU runtimes
  step bench_engines "$PY" tools/bench_engines.py --out "$OUT/bench_engines" --batches 1 4 8
else
  echo "| bench_engines | skipped: no tensorrt | 0 |" >> "$summary"
fi

# DDP smoke: one process per GPU (here one), NCCL, fp16 autocast, 20 steps of the paper model (two ResNet-50
# streams on 224² crops, T = 16) on clips the generator renders on the fly; no AMASS here, so no discriminator.
ddp_smoke() {
  "$PY" -m torch.distributed.run --nnodes=1 --nproc_per_node="${GPUS:-1}" --master_addr=127.0.0.1 --master_port=29533 \
    -m training.cli --config synthetic --out "$WORK/ddp" --max-steps 20 --no-progress \
    model=paper device=cuda mixed_precision=true batch_size=4 synthetic_clips=80 val_datasets=[] \
    main_phase.epochs=1 main_phase.iters_per_epoch=20 refinement_phase.enabled=false log_every=5 \
    "model_overrides=[streams.rgb.pretrained=none, streams.flow.pretrained=none, streams.flow.provider=dis, temporal_encoder.attention=causal]"
  "$PY" - "$WORK/ddp/last.pt" <<'EOF'
import sys
from training.checkpoint import load_checkpoint
c = load_checkpoint(sys.argv[1])
print(f"last.pt: model {c.model_config.name}, step {c.progress.global_step}, scalers {sorted(c.scalers) if c.scalers else None}")
EOF
}
step ddp_smoke timeout "${DDP_TIMEOUT:-300}" bash -c "$(declare -f ddp_smoke); PY=$PY WORK=$WORK ddp_smoke"

echo
cat "$summary"
