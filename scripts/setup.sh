#!/usr/bin/env bash
# Installs what the vision path needs on this machine, all from package registries:
#   ffmpeg (Debian), the ONNX Runtime shared library (PyPI wheel onnxruntime) and the sample
#   video vtest.avi (Debian opencv-doc) into .assets/. The detector model is in models/.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ffmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg)" >&2
    exit 1
  fi
fi

bash scripts/assets/fetch.sh .assets
echo "setup: ffmpeg $(ffmpeg -version | head -1 | cut -d' ' -f3), assets in .assets/: $(ls .assets | tr '\n' ' ')"
