#!/usr/bin/env bash
# GPU check (issue 3): does the detector run on the CUDA and TensorRT execution providers, and
# at what frames/s for batch 1, 8 and 32, next to the CPU provider?
# Needs an NVIDIA GPU, its driver, and ONNX Runtime built with the GPU providers (the
# `onnxruntime-gpu` wheel's libonnxruntime.so.* with libonnxruntime_providers_{shared,cuda,tensorrt}.so
# beside it) plus the CUDA/cuDNN libraries it links (the nvidia-* wheels of a PyTorch install work).
# Run with: ORT_DYLIB_PATH=/path/to/libonnxruntime.so.1.31.0 bench/gpu.sh [DIR_WITH_detector-bench]
# A provider that cannot start prints the engine's start-up error instead of a number.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then cargo build --release -q -p itscam-bench && bin=target/release; fi
: "${ORT_DYLIB_PATH:?set ORT_DYLIB_PATH to the GPU build of libonnxruntime}"
# CUDA/cuDNN/cuBLAS from pip's nvidia-* packages, when present.
for d in $(python3 -c 'import nvidia, os; p = nvidia.__path__[0]; print(" ".join(os.path.join(p, x, "lib") for x in os.listdir(p)))' 2>/dev/null); do
  [ -d "$d" ] && LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
for d in /usr/local/cuda/lib64 /usr/local/cuda-*/lib64; do [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:$d"; done
export LD_LIBRARY_PATH="$(dirname "$ORT_DYLIB_PATH"):${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
frames=${FRAMES:-256}
for provider in cuda tensorrt cpu; do
  batches=1,8,32; warm=3
  [ "$provider" = cpu ] && batches=1,8 && frames=64
  [ "$provider" = tensorrt ] && warm=6   # TensorRT builds an engine per batch shape on first use
  echo "== provider $provider"
  "$bin/detector-bench" --provider "$provider" --frames "$frames" --batches "$batches" --warmup "$warm" 2>&1 | grep -v '^\s*$'
done
