#!/usr/bin/env bash
# Question: how long from a frame entering the engine (a detections line written to
# `itscam run`'s stdin) to the alert it raises being visible to a Kafka consumer, on loopback?
# p50/p90/p99/max, split into legs (dataflow, alert hub, SSE, Kafka). Goal: p99 < 50 ms, model
# time excluded (the frames are detections, not video).
# Broker: Tansu 0.6.0 on loopback with in-memory storage (scripts/servers/tansu.sh install); the
# engine is the release binary, run as a child process with [pipeline] lateness_ms = 0.
# After the main run, five short runs (2 cameras × 15 s) change one setting each to show where
# the time goes: the speeding rule on the causal speed ([analytics.speed] speed_rules_smoothed =
# false; by default its alerts wait smooth_lag_ms for the smoothed speed), the producer's
# linger_ms = 0, 10 fps input, the default lateness_ms = 1000, and the consumer's default
# fetch.wait.max.ms = 500.
#
# Run with: bench/alert_latency.sh            (4 cameras × 30 fps × 45 s, then the five variants;
#                                              writes bench/results/alert-latency.txt)
#           bench/alert_latency.sh --quick    (2 cameras × 30 fps × 15 s, no variants; prints only)
#           CAMERAS=N FPS=F DURATION_S=S bench/alert_latency.sh [alert-latency flags, e.g. --linger-ms 0]
#                                             (one run with those settings; prints only)
set -euo pipefail
cd "$(dirname "$0")/.."
# (not $SECONDS: bash sets that to the shell's uptime)
CAMERAS=${CAMERAS:-4}; FPS=${FPS:-30}; DURATION_S=${DURATION_S:-45}
out=bench/results/alert-latency.txt; variants=1
if [ "${1:-}" = "--quick" ]; then shift; CAMERAS=2; DURATION_S=15; out=/dev/null; variants=0; fi
if [ $# -gt 0 ]; then out=/dev/null; variants=0; fi

tansu=$(bash scripts/servers/tansu.sh install)
nice cargo build --release -q -p itscam-bench --bin alert-latency -p itscam --bin itscam
bin="${CARGO_TARGET_DIR:-target}/release"
run() {
  echo "# alert-latency $*"
  "$bin/alert-latency" --tansu "$tansu" --itscam "$bin/itscam" "$@"
  echo
}
mkdir -p bench/results
{
  echo "# bench/alert_latency.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  run --cameras "$CAMERAS" --fps "$FPS" --seconds "$DURATION_S" "$@"
  if [ "$variants" = 1 ]; then
    echo "# Where the time goes: one setting changed per run (2 cameras × 15 s)"
    echo
    for v in "--speed-rules-causal" "--linger-ms 0" "--fps 10" "--lateness-ms 1000" "--fetch-wait-ms 500"; do
      # shellcheck disable=SC2086
      run --cameras 2 --seconds 15 $v
    done
  fi
} | tee "$out"
