#!/usr/bin/env bash
# Question: how many detections/s go through source → tracker → Parquet, on 1 and 2 workers,
# at what peak RSS, and how does that compare with Python's supervision ByteTrack on the same
# detections (the peer, run in this same script)?
# Goal (issue 2): ≥ 1 M detections/s per core and ≥ 100× the peer.
# Run with: bench/spine.sh            (CAMERAS=8 FOOTAGE_S=300 PEER_FRAMES=20000 to change the load)
set -euo pipefail
cd "$(dirname "$0")/.."
CAMERAS=${CAMERAS:-8}; SECONDS_OF_VIDEO=${FOOTAGE_S:-300}; PEER_FRAMES=${PEER_FRAMES:-20000}
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"

cargo build --release -q -p itscam -p itscam-bench
bin=target/release
# One JSONL file per camera, as cameras (or edge devices) would ship them.
[ -s "$work/cam-1.jsonl" ] || $bin/gen-detections --cameras "$CAMERAS" --objects 20 --fps 30 --seconds "$SECONDS_OF_VIDEO" --per-camera --out "$work/{camera}.jsonl"

{
  echo "[lake]"; echo "url = \"file://$work/lake\""
  for c in $(seq 1 "$CAMERAS"); do printf '[[camera]]\nid = "cam-%s"\nsource = "detections:%s/cam-%s.jsonl"\n' "$c" "$work" "$c"; done
} > "$work/config.toml"

declare -A rate rss cpu
for w in 1 2; do
  rm -rf "$work/lake"
  /usr/bin/time -v -o "$work/time-$w.txt" $bin/itscam run --config "$work/config.toml" --workers "$w" --no-progress > "$work/run-$w.txt"
  rate[$w]=$(awk '/^  detections/ { gsub(/[()\/s]/, "", $3); print $3 }' "$work/run-$w.txt")
  rss[$w]=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); printf "%.0f", $2 / 1024 }' "$work/time-$w.txt")
  # Detections per CPU-second: every thread counted (reader, workers, writer, encoder).
  dets=$(awk '/^  detections/ { print $2 }' "$work/run-$w.txt")
  cpu_s=$(awk -F: '/User time|System time/ { s += $2 } END { print s }' "$work/time-$w.txt")
  cpu[$w]=$(echo "$dets / $cpu_s" | bc)
done

python=${PYTHON:-python3}
if ! $python -c 'import supervision' 2>/dev/null; then
  $python -m venv "$work/venv" && "$work/venv/bin/pip" install -q supervision==0.27.0 && python=$work/venv/bin/python
fi
peer=$($python bench/peer_supervision.py "$work/cam-1.jsonl" --max-frames "$PEER_FRAMES")
peer_rate=$(echo "$peer" | $python -c 'import json,sys; print(round(json.load(sys.stdin)["per_s"]))')

echo
echo "spine benchmark: $CAMERAS cameras × 20 objects × 30 fps × ${SECONDS_OF_VIDEO} s, $(nproc) cores"
printf '%-38s %13s %17s %12s %8s\n' "run" "detections/s" "per CPU-second" "peak RSS MB" "vs peer"
for w in 1 2; do
  printf '%-38s %13s %17s %12s %7.0fx\n' "itscam, $w worker(s), JSONL→Parquet" "${rate[$w]}" "${cpu[$w]}" "${rss[$w]}" "$(echo "${rate[$w]} / $peer_rate" | bc -l)"
done
printf '%-38s %13s %17s %12s %8s\n' "supervision ByteTrack, tracker only" "$peer_rate" "$peer_rate" "-" "1x"
