#!/usr/bin/env bash
# Question: how many files does the lake get per hour of operation, for 10 and 100 cameras,
# with `[lake] partition_by = "camera_id,date"` (a directory per camera: the layout before
# issue 13) and with the default `"date"` (cameras share files, `camera_id` a sorted column)?
# Each camera (15 objects × 10 fps, calibrated, a line, a zone and a speeding rule) is fed live:
# every camera's lines on stdin, released at their capture pace by a small pacer (as a live
# deployment delivers them), for SECONDS with the default writer (a file rolls when its oldest
# row is 30 s old); then every committed file is counted (`itscam lake files`) and scaled to an
# hour. No compaction runs (it would merge files afterwards).
# Run with: bench/lake_files.sh            (SECONDS_RUN=120 by default)
# Writes bench/results/lake_files.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${SECONDS_RUN:-120}
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"
out=bench/results/lake_files.txt

nice cargo build --release -q -p itscam -p itscam-bench
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release")
source bench/camera_config.sh
# Writes the lines of a time-ordered detections file to stdout at the pace of their ts_ms.
pace='
import json, sys, time
start = None
for line in open(sys.argv[1]):
    ts = json.loads(line)["ts_ms"]
    if start is None:
        start = (ts, time.monotonic())
    wait = (ts - start[0]) / 1000 - (time.monotonic() - start[1])
    if wait > 0:
        sys.stdout.flush()
        time.sleep(wait)
    sys.stdout.write(line)
'

mkdir -p bench/results
{
  echo "# bench/lake_files.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# command: SECONDS_RUN=$SECONDS_RUN bench/lake_files.sh"
  printf '%-8s %-16s %10s %14s %12s %s\n' "cameras" "partition_by" "files" "files/hour" "detections" "files per table"
  for cameras in 10 100; do
    dir="$work/c$cameras"
    [ -s "$dir/all.jsonl" ] || { mkdir -p "$dir"; "$bin/gen-detections" --cameras "$cameras" --objects 15 --fps 10 --seconds "$SECONDS_RUN" --out "$dir/all.jsonl" 2>/dev/null; }
    for layout in "camera_id,date" "date"; do
      rm -rf "$dir/lake"
      camera_config "$cameras" "$dir" 2 "partition_by = \"$layout\"" | sed 's|^source = .*|source = "detections:-"|' > "$dir/config.toml"
      python3 -c "$pace" "$dir/all.jsonl" | "$bin/itscam" run --config "$dir/config.toml" --no-progress > "$dir/run.txt"
      "$bin/itscam" lake files --config "$dir/config.toml" --json > "$dir/files.jsonl"
      files=$(wc -l < "$dir/files.jsonl")
      per_table=$(python3 -c 'import collections, json, sys; c = collections.Counter(json.loads(l)["table"] for l in open(sys.argv[1])); print(" ".join(f"{k}={v}" for k, v in sorted(c.items())))' "$dir/files.jsonl")
      dets=$(awk '/^  detections/ { print $2 }' "$dir/run.txt")
      printf '%-8s %-16s %10s %14s %12s %s\n' "$cameras" "$layout" "$files" "$((files * 3600 / SECONDS_RUN))" "$dets" "$per_table"
    done
  done
} | tee "$out"
