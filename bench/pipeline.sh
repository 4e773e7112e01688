#!/usr/bin/env bash
# Question: how fast, and in how much memory, does `itscam run` take detections end to end —
# JSON Lines → tracker → every traffic query → Parquet lake on local disk — when each camera is
# calibrated, with one counting line, one zone and one speeding rule?
#   1. 10 cameras and 100 cameras (15 objects × 10 fps each), on 1 and 2 workers: detections/s,
#      detections per CPU-second (every thread counted), peak RSS;
#   2. a soak: the 100-camera load for SOAK_MIN simulated minutes on 2 workers, RSS sampled as
#      the input is read, printed at each simulated minute, and the growth after minute 10;
#      then again with a junction per camera (SOAK_JUNCTION=0 skips it).
# Goals (issue 12): ≥ 500 k detections per CPU-second; 2 workers ≥ 0.9× 1 worker per CPU-second;
# 100 cameras under 1 GB peak RSS; soak growth < 5 % after the first ten minutes.
# Run with: bench/pipeline.sh            (SHORT_S=600 LONG_S=120 SOAK_MIN=60 to change the load)
# Writes bench/results/pipeline.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
SHORT_S=${SHORT_S:-600}; LONG_S=${LONG_S:-120}; SOAK_MIN=${SOAK_MIN:-60}; SOAK_JUNCTION=${SOAK_JUNCTION:-1}
OBJECTS=15; FPS=10
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"
out=bench/results/pipeline.txt

nice cargo build --release -q -p itscam -p itscam-bench
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release")

# One JSONL file per camera, as cameras (or edge devices) ship them.
gen() { # cameras seconds dir
  [ -s "$3/cam-$1.jsonl" ] || { mkdir -p "$3"; $bin/gen-detections --cameras "$1" --objects $OBJECTS --fps $FPS --seconds "$2" --per-camera --out "$3/{camera}.jsonl" 2>/dev/null; }
}

# The configuration of the issue: per camera a calibration, a line, a zone and a speeding rule.
source bench/camera_config.sh
config() { # cameras dir workers
  camera_config "$1" "$2" "$3" > "$2/config-$3.toml"
}

# Runs one configuration; prints "detections rate per_cpu_s peak_rss_mb wall_s".
run() { # cameras dir workers
  config "$1" "$2" "$3"
  rm -rf "$2/lake"
  /usr/bin/time -v -o "$2/time.txt" $bin/itscam run --config "$2/config-$3.toml" --no-progress > "$2/run.txt"
  local dets cpu rss wall
  dets=$(awk '/^  detections/ { print $2 }' "$2/run.txt")
  cpu=$(awk -F: '/User time|System time/ { s += $2 } END { print s }' "$2/time.txt")
  rss=$(awk -F: '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$2/time.txt")
  wall=$(awk '/Elapsed \(wall clock\)/ { n = split($NF, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$2/time.txt")
  echo "$dets $(echo "$dets / $wall" | bc) $(echo "$dets / $cpu" | bc) $rss $wall"
}

# One soak run (JUNCTION: "" or "junction"): prints RSS per simulated minute and the growth.
soak_run() {
  camera_config 100 "$soak" 2 "" fast "$1" > "$soak/config.toml"
  rm -rf "$soak/lake"
  local total pid minute=1 first10="" peak=0 read_bytes rss at
  local -A at_minute
  total=$(cat "$soak"/cam-*.jsonl | wc -c)
  $bin/itscam run --config "$soak/config.toml" --no-progress > "$soak/run.txt" &
  pid=$!
  echo
  echo "soak${1:+ with a junction per camera}: 100 cameras × $SOAK_MIN simulated minutes, 2 workers; RSS when the readers reach each minute"
  printf '%8s %10s\n' "minute" "RSS MB"
  while kill -0 $pid 2>/dev/null; do
    read_bytes=$(awk '/^rchar/ { print $2 }' /proc/$pid/io 2>/dev/null || echo 0)
    rss=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' /proc/$pid/status 2>/dev/null || echo 0)
    at=$(echo "$read_bytes * $SOAK_MIN / $total" | bc)
    while [ "$minute" -le "$at" ] && [ "$minute" -le "$SOAK_MIN" ]; do
      printf '%8s %10s\n' "$minute" "$rss"
      [ "$minute" = 10 ] && first10=$rss
      [ "$minute" -gt 10 ] && [ "$rss" -gt "$peak" ] && peak=$rss
      at_minute[$minute]=$rss
      minute=$((minute + 1))
    done
    sleep 0.5  # sampling period of the RSS reading, not a synchronization
  done
  wait $pid
  [ -z "$1" ] || grep -E '^ +(movements|turning_counts|queues|queue_samples|lane_metrics|signal_performance) ' "$soak/run.txt" | sed 's/^ */  junction table: /' || true
  if [ -n "$first10" ] && [ "$peak" -gt 0 ]; then
    echo "soak${1:+ with junctions}: RSS at minute 10 $first10 MB, highest after it $peak MB: growth $(echo "scale=1; ($peak - $first10) * 100 / $first10" | bc) %"
  fi
  # RSS is a sawtooth (the writer's buffers fill and roll): a single sample at minute 10 may sit
  # at a trough. Growth between the highest of minutes 11-20 and the highest of the last ten
  # says whether the peaks climb.
  if [ "$SOAK_MIN" -ge 30 ]; then
    local early=0 late=0 m
    for m in $(seq 11 20); do [ "${at_minute[$m]:-0}" -gt "$early" ] && early=${at_minute[$m]}; done
    for m in $(seq $((SOAK_MIN - 9)) "$SOAK_MIN"); do [ "${at_minute[$m]:-0}" -gt "$late" ] && late=${at_minute[$m]}; done
    [ "$early" -gt 0 ] && echo "soak${1:+ with junctions}: highest RSS of minutes 11-20 $early MB, of the last ten $late MB: growth $(echo "scale=1; ($late - $early) * 100 / $early" | bc) %"
  fi
  return 0
}

mkdir -p bench/results
{
  echo "# bench/pipeline.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# command: SHORT_S=$SHORT_S LONG_S=$LONG_S SOAK_MIN=$SOAK_MIN SOAK_JUNCTION=$SOAK_JUNCTION bench/pipeline.sh"
  echo "pipeline benchmark: $OBJECTS objects × $FPS fps per camera; calibration, 1 line, 1 zone, 1 speeding rule per camera; lake on local disk"
  printf '%-34s %8s %11s %13s %15s %12s %8s\n' "run" "workers" "detections" "detections/s" "per CPU-second" "peak RSS MB" "wall s"
  declare -A per_cpu
  for load in "10 $SHORT_S" "100 $LONG_S"; do
    set -- $load
    gen "$1" "$2" "$work/c$1"
    for w in 1 2; do
      read -r dets rate cpu rss wall < <(run "$1" "$work/c$1" "$w")
      per_cpu[$1-$w]=$cpu
      printf '%-34s %8s %11s %13s %15s %12s %8s\n' "$1 cameras × $2 s" "$w" "$dets" "$rate" "$cpu" "$rss" "$wall"
    done
  done
  for c in 10 100; do
    echo "$c cameras: 2 workers per CPU-second vs 1 worker: $(echo "scale=2; ${per_cpu[$c-2]} / ${per_cpu[$c-1]}" | bc)x"
  done

  # The soak: RSS as the input is read. The files are read in order, so the share of input bytes
  # read tells the simulated time the readers have reached. Run twice when SOAK_JUNCTION=1: as
  # configured above, and with every camera also a junction (issue 17: the junction tables must
  # keep no per-track state that outlives the track).
  [ "$SOAK_MIN" -gt 0 ] || exit 0
  soak="$work/soak"
  gen 100 $((SOAK_MIN * 60)) "$soak"
  soak_run ""
  [ "$SOAK_JUNCTION" = 1 ] || exit 0
  junction_signals 100 $((SOAK_MIN * 60)) "$soak"
  soak_run junction
} | tee "$out"
