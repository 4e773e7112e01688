#!/usr/bin/env bash
# Question: what does scaling out on timely's cluster cost per core? The same detections run
# (CAMERAS cameras × 15 objects × 10 fps × INPUT_S s, one JSONL file per camera; per camera a
# calibration, a counting line, a zone and a speeding rule; lake on local disk) as
#   1. one process × 1 worker, and
#   2. two processes × 1 worker on loopback (`itscam run --cluster FILE --process I`),
# both timed with every thread of every process counted: detections per CPU-second, and the
# ratio cluster / one process (goal ≥ 0.85×). From the measured per-core rates it prints a
# projection for 1,000 and 10,000 cameras: processes × workers × cores, lake files and Kafka
# partitions.
# Run with: bench/cluster.sh        (CAMERAS=20 INPUT_S=300 REPEAT=3 to change the load)
# Writes bench/results/cluster.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
CAMERAS=${CAMERAS:-20}; SECONDS_OF_INPUT=${INPUT_S:-300}; REPEAT=${REPEAT:-3}
OBJECTS=15; FPS=10
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"
out=bench/results/cluster.txt

if [ -z "${BIN:-}" ]; then
  nice cargo build --release -q -p itscam -p itscam-bench
  BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release")
fi

[ -s "$work/cam-1.jsonl" ] || "$BIN/gen-detections" --cameras "$CAMERAS" --objects $OBJECTS --fps $FPS --seconds "$SECONDS_OF_INPUT" --per-camera --out "$work/{camera}.jsonl" 2>/dev/null
source bench/camera_config.sh
# Evidence off: the question is the dataflow's cost, and evidence pictures are their own bench.
camera_config "$CAMERAS" "$work" 1 "$(printf '\n[evidence]\nenabled = false')" > "$work/config.toml"

# Seconds of CPU (user + system) in a /usr/bin/time -v report.
cpu_of() { awk -F: '/User time|System time/ { s += $2 } END { print s }' "$1"; }
wall_of() { awk '/Elapsed \(wall clock\)/ { n = split($NF, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"; }
detections_in_lake() { "$BIN/itscam" query --lake "file://$work/lake" --format csv "SELECT count(*) AS n FROM detections" | tail -1; }

# One process; prints "detections cpu_s wall_s".
one() {
  rm -rf "$work/lake"
  /usr/bin/time -v -o "$work/time-1.txt" "$BIN/itscam" run --config "$work/config.toml" --no-progress > "$work/run-1.txt"
  echo "$(detections_in_lake) $(cpu_of "$work/time-1.txt") $(wall_of "$work/time-1.txt")"
}

# Two processes of one cluster on loopback; prints "detections cpu_s wall_s" (CPU of both,
# wall clock of the slower).
two() {
  rm -rf "$work/lake"
  local p0 p1
  p0=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  p1=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf '127.0.0.1:%s\n127.0.0.1:%s\n' "$p0" "$p1" > "$work/hosts.txt"
  for i in 0 1; do
    /usr/bin/time -v -o "$work/time-2-$i.txt" "$BIN/itscam" run --config "$work/config.toml" --cluster "$work/hosts.txt" --process $i --no-progress > "$work/run-2-$i.txt" &
  done
  wait
  local cpu wall
  cpu=$(echo "$(cpu_of "$work/time-2-0.txt") + $(cpu_of "$work/time-2-1.txt")" | bc)
  wall=$(printf '%s\n%s\n' "$(wall_of "$work/time-2-0.txt")" "$(wall_of "$work/time-2-1.txt")" | sort -g | tail -1)
  echo "$(detections_in_lake) $cpu $wall"
}

mkdir -p bench/results
{
  echo "# bench/cluster.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# command: CAMERAS=$CAMERAS INPUT_S=$SECONDS_OF_INPUT REPEAT=$REPEAT bench/cluster.sh"
  echo "cluster benchmark: $CAMERAS cameras × $OBJECTS objects × $FPS fps × $SECONDS_OF_INPUT s; calibration, 1 line, 1 zone, 1 speeding rule per camera; lake on local disk"
  printf '%-28s %4s %11s %8s %8s %15s\n' "run" "try" "detections" "CPU s" "wall s" "per CPU-second"
  best1=0; best2=0; ratios=()
  for try in $(seq 1 "$REPEAT"); do
    # Alternate the order so that load from other work on the machine hits both alike.
    for kind in one two; do
      read -r dets cpu wall < <($kind)
      rate=$(echo "$dets / $cpu" | bc)
      printf '%-28s %4s %11s %8s %8s %15s\n' "$([ $kind = one ] && echo "1 process × 1 worker" || echo "2 processes × 1 worker")" "$try" "$dets" "$cpu" "$wall" "$rate"
      if [ $kind = one ]; then [ "$rate" -gt "$best1" ] && best1=$rate; else [ "$rate" -gt "$best2" ] && best2=$rate; fi
      if [ $kind = one ]; then dets1=$dets; rate1=$rate; else
        [ "$dets" = "$dets1" ] || echo "MISMATCH: the cluster wrote $dets detections, one process $dets1"
        ratios+=("$(echo "scale=3; $rate / $rate1" | bc)")
      fi
    done
  done
  ratio=$(echo "scale=2; $best2 / $best1" | bc)
  median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ r[NR] = $1 } END { print (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }')
  echo "per try (each cluster run against the one-process run just before it): ${ratios[*]}; median ${median}x"
  echo "best of $REPEAT: 1 process $best1, 2 processes $best2 detections per CPU-second: cluster / one process = ${ratio}x (goal ≥ 0.85x)"

  # Projection. Analytics: detections per camera per second at this load, the measured
  # per-core rate of the cluster. Vision: frames per camera per second at the analysis rate,
  # the per-core and per-GPU detector rates of bench/vision.sh and bench/gpu.sh (README).
  echo
  echo "projection (${FPS} fps × ${OBJECTS} objects per camera; analytics at the cluster's $best2 detections per CPU-second;"
  echo "vision at 15 frames/s per CPU core (bench/vision.sh, 2 cores: 30 frames/s) or 250 frames/s per H200 GPU (bench/gpu.sh, batch 32 detector step);"
  echo "at most 8 workers per process; lake files at 780 per writer (process) per hour (bench/lake_files.sh, date layout); Kafka partitions keyed by camera, one per worker)"
  printf '%8s %14s %12s %22s %13s %13s %14s %12s\n' "cameras" "detections/s" "analytics" "processes × workers" "vision cores" "vision GPUs" "lake files/h" "partitions"
  for cams in 1000 10000; do
    dps=$((cams * FPS * OBJECTS))
    cores=$(( (dps + best2 - 1) / best2 ))
    procs=$(( (cores + 7) / 8 )); workers=$(( (cores + procs - 1) / procs ))
    frames=$((cams * FPS))
    printf '%8s %14s %12s %22s %13s %13s %14s %12s\n' "$cams" "$dps" "$cores core(s)" "$procs × $workers" "$(( (frames + 14) / 15 ))" "$(( (frames + 249) / 250 ))" "$((780 * procs))" "$((procs * workers))"
  done
} | tee "$out"
