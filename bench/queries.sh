#!/usr/bin/env bash
# Question: how fast do the traffic queries run behind the tracker?
#   1. detections/s (and per CPU-second) through tracker + all queries with 10, 100 and 1,000
#      rules on 1 and 2 workers, as a ratio to the 0-rule run (tracker, observe, metrics,
#      anomalies; empty rule set) in the same process;
#   2. latency from a frame entering to its violation leaving (p50/p99), frames at capture pace;
#   3. time to add one rule after 10, 60, 300 s of history, next to the same step without a change.
# Goals (issue): ≥ 1 M detections/s per core with 100 rules; rule add time flat with history.
# Run with: bench/queries.sh            (FOOTAGE_S=120 REPEAT=2 to change the throughput load)
# Writes bench/results/queries.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
# (not $SECONDS: bash sets that to the shell's uptime)
FOOTAGE_S=${FOOTAGE_S:-120}; REPEAT=${REPEAT:-2}
out=bench/results/queries.txt

nice cargo build --release -q -p itscam-bench --bin queries-bench
bin=${CARGO_TARGET_DIR:-target}/release/queries-bench
mkdir -p bench/results
{
  echo "# bench/queries.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# command: target/release/queries-bench --seconds $FOOTAGE_S --repeat $REPEAT (MIMALLOC_PURGE_DELAY=10000, nice)"
  # The engine's allocator setting (it sets mimalloc's purge delay to 10 s in main).
  MIMALLOC_PURGE_DELAY=10000 nice "$bin" --seconds "$FOOTAGE_S" --repeat "$REPEAT"
} | tee "$out"
