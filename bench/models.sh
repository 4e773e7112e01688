#!/usr/bin/env bash
# Questions (issue 19), answered on this machine's CPU in one run (bench/models_swap.py):
#  (a) a hot swap under load: CAMERAS video cameras following the registry name `detector`,
#      1.1.0 (int8 CenterNet) promoted to production over HTTP while 1.0.0 (CenterNet) runs —
#      frames lost (goal 0), the longest wait between two inferred frames of a camera in the
#      20 s around the swap, and frames/s there, each beside the same run without a swap;
#  (b) shadow cost: frames/s with [models] shadow_sample = 0.1 vs none.
# Run with: bench/models.sh          (FRAMES=300 CAMERAS=4 SPIN_WAIT=true|false to change)
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${FRAMES:-300}; CAMERAS=${CAMERAS:-4}
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"
bash scripts/setup.sh >/dev/null
cargo build --release -q -p itscam
bin=${CARGO_TARGET_DIR:-target}/release
export ORT_DYLIB_PATH=$PWD/.assets/libonnxruntime.so
clip=$work/clip.avi
[ -s "$clip" ] || ffmpeg -nostdin -v error -y -i .assets/vtest.avi -frames:v "$FRAMES" -c:v mpeg4 -q:v 2 "$clip"
python3 bench/models_swap.py --bin "$bin/itscam" --work "$work" --clip "$clip" --cameras "$CAMERAS" --frames "$FRAMES"
