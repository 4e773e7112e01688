#!/usr/bin/env bash
# The main job on embedded defaults: builds itscam, runs the example pipeline (two cameras of
# detections → tracker → Parquet lake in ./lake), and shows what it found with SQL.
# Usage: scripts/demo.sh            (release build; PROFILE=dev for a faster first build)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
cargo build --profile "$profile" -p itscam
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")/itscam

$bin check --config examples/detections/config.toml
$bin run --config examples/detections/config.toml
echo
echo "Tracks per camera and class:"
$bin query "SELECT camera_id, class, count(*) AS tracks, round(avg(last_ts_ms - first_ts_ms) / 1000.0, 1) AS avg_seconds FROM tracks GROUP BY 1, 2 ORDER BY 1, 2"
echo "Detections, tracked share, rejected lines:"
$bin query "SELECT count(*) AS detections, round(avg(CASE WHEN track_id IS NULL THEN 0.0 ELSE 1.0 END), 3) AS tracked_share, (SELECT count(*) FROM errors) AS rejected FROM detections"
