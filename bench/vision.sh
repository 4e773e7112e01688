#!/usr/bin/env bash
# Questions (issue 3), answered on this machine's CPU in one run:
#  (a) frames/s of the whole pipeline (decode → quality → resize → batching inference → NMS →
#      tracker → Parquet) vs bare ONNX Runtime on the same decoded frames and batch size
#      (goal ≥ 0.95: the pipeline adds < 5 %);
#  (b) vs the same model in a Python loop (ffmpeg + OpenCV + onnxruntime + numpy decode/NMS)
#      (goal ≥ 1.5×);
#  (c) per-stage latency p50/p99; (d) peak RSS with 4 and 16 file cameras.
# Run with: bench/vision.sh          (FRAMES=400 BATCH=4 RSS_FRAMES=40 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${FRAMES:-400}; BATCH=${BATCH:-4}; RSS_FRAMES=${RSS_FRAMES:-40}
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"
bash scripts/setup.sh >/dev/null
cargo build --release -q -p itscam -p itscam-bench
bin=target/release
export ORT_DYLIB_PATH=$PWD/.assets/libonnxruntime.so

clip=$work/clip.avi; small=$work/small.avi
[ -s "$clip" ] || ffmpeg -nostdin -v error -y -i .assets/vtest.avi -frames:v "$FRAMES" -c:v mpeg4 -q:v 2 "$clip"
[ -s "$small" ] || ffmpeg -nostdin -v error -y -i .assets/vtest.avi -frames:v "$RSS_FRAMES" -c:v mpeg4 -q:v 2 "$small"

config() { # config FILE CAMERAS VIDEO
  {
    printf '[lake]\nurl = "file://%s/lake"\n[pipeline]\nworkers = 1\n' "$work"
    printf '[model]\npath = "%s/models/centernet-mbv3/centernet.onnx"\nmax_batch = %s\nmax_wait_ms = 50\nconfidence = 0.25\n' "$PWD" "$BATCH"
    printf '[quality]\nmin_score = 0.0\n'   # every frame goes through the detector, as in the baselines
    for c in $(seq 1 "$2"); do printf '[[camera]]\nid = "cam-%s"\nsource = "file:%s"\nstart_ms = 1767225600000\n' "$c" "$3"; done
  } > "$1"
}

echo "== (a)/(c) bare detector on the same frames, batch $BATCH"
$bin/detector-bench --video "$clip" --frames "$FRAMES" --batches "$BATCH" --warmup 2 | tee "$work/bare.txt"
bare_ort=$(sed -n 's/.*bare ORT run *\([0-9.]*\) frames\/s.*/\1/p' "$work/bare.txt")
bare_det=$(sed -n 's/.*detector *\([0-9.]*\) frames\/s.*/\1/p' "$work/bare.txt")

echo "== (a)/(c) the whole pipeline, 1 camera"
config "$work/one.toml" 1 "$clip"; rm -rf "$work/lake"
/usr/bin/time -v -o "$work/time-1.txt" $bin/itscam run --config "$work/one.toml" --no-progress | tee "$work/run-1.txt"
secs=$(sed -n 's/^itscam run finished in \([0-9.]*\) s.*/\1/p' "$work/run-1.txt")
inferred=$(sed -n 's/^  inferred *\([0-9]*\).*/\1/p' "$work/run-1.txt")
pipe=$(echo "$inferred / $secs" | bc -l)

echo "== (b) Python loop peer"
python=${PYTHON:-python3}
if ! $python -c 'import onnxruntime, cv2, numpy' 2>/dev/null; then
  $python -m venv "$work/venv" && "$work/venv/bin/pip" install -q onnxruntime==1.32.0 opencv-python-headless numpy && python=$work/venv/bin/python
fi
peer=$($python bench/peer_onnx_python.py "$clip" models/centernet-mbv3/centernet.onnx --frames "$FRAMES" --batch "$BATCH")
echo "$peer"
peer_fps=$(echo "$peer" | $python -c 'import json,sys; print(json.load(sys.stdin)["fps"])')

echo "== (d) peak RSS with 4 and 16 file cameras ($RSS_FRAMES frames each)"
declare -A rss
for n in 4 16; do
  config "$work/rss-$n.toml" "$n" "$small"; rm -rf "$work/lake"
  /usr/bin/time -v -o "$work/time-rss-$n.txt" $bin/itscam run --config "$work/rss-$n.toml" --no-progress > "$work/run-rss-$n.txt"
  rss[$n]=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); printf "%.0f", $2 / 1024 }' "$work/time-rss-$n.txt")
done

echo
echo "vision benchmark: $FRAMES frames of vtest.avi (768x576), CenterNet-MobileNetV3 512, batch $BATCH, CPU ($(nproc) cores)"
printf '%-52s %10s %8s\n' "run" "frames/s" "ratio"
printf '%-52s %10.1f %8s\n' "bare ONNX Runtime (session.run only)" "$bare_ort" "1.00"
printf '%-52s %10.1f %8.2f\n' "bare detector (resize + run + decode/NMS)" "$bare_det" "$(echo "$bare_det / $bare_ort" | bc -l)"
printf '%-52s %10.1f %8.2f\n' "itscam pipeline, end to end incl. start-up" "$pipe" "$(echo "$pipe / $bare_ort" | bc -l)"
printf '%-52s %10.1f %8.2f\n' "Python loop (ffmpeg+OpenCV+onnxruntime+numpy)" "$peer_fps" "$(echo "$peer_fps / $bare_ort" | bc -l)"
printf 'pipeline vs Python loop: %.2fx\n' "$(echo "$pipe / $peer_fps" | bc -l)"
printf 'peak RSS: 1 camera %s MB, 4 cameras %s MB, 16 cameras %s MB\n' \
  "$(awk -F: '/Maximum resident/ { printf "%.0f", $2 / 1024 }' "$work/time-1.txt")" "${rss[4]}" "${rss[16]}"
grep -E '^  stage|latency ms' "$work/bare.txt" "$work/run-1.txt" | sed 's/^[^:]*://'
