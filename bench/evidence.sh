#!/usr/bin/env bash
# Questions (issue 15), answered on this machine's CPU in one run:
#  (a) does evidence slow the vision path? FRAMES frames of vtest.avi through the whole pipeline
#      with RULES zone_intrusion rules (anyone on the plaza breaks each: many violations per
#      second), [evidence] on vs off, RUNS runs of each alternating; frames/s, violations per
#      wall-clock second, and the ratio of the medians (goal ≥ 0.98 at ≥ 10 violations/s);
#  (b) the cost of one violation's evidence: the difference of the medians' CPU time over the
#      violations, and the bytes it stores.
# Run with: bench/evidence.sh          (FRAMES=400 RULES=20 RUNS=3 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${FRAMES:-400}; RULES=${RULES:-20}; RUNS=${RUNS:-3}
work=${WORK:-$(mktemp -d)}; mkdir -p "$work"
bash scripts/setup.sh >/dev/null
cargo build --release -q -p itscam
bin=${CARGO_TARGET_DIR:-target}/release
export ORT_DYLIB_PATH=$PWD/.assets/libonnxruntime.so
clip=$work/clip.avi
[ -s "$clip" ] || ffmpeg -nostdin -v error -y -i .assets/vtest.avi -frames:v "$FRAMES" -c:v mpeg4 -q:v 2 "$clip"

config() { # config FILE ENABLED
  {
    printf '[lake]\nurl = "file://%s/lake"\n[pipeline]\nworkers = 1\n' "$work"
    printf '[model]\npath = "%s/models/centernet-mbv3/centernet.onnx"\nmax_batch = 4\nconfidence = 0.25\n' "$PWD"
    printf '[tracker]\nhigh_threshold = 0.35\nlow_threshold = 0.25\nnew_track_threshold = 0.35\n'
    printf '[evidence]\nenabled = %s\n' "$2"
    printf '[[camera]]\nid = "plaza"\nsource = "file:%s"\nstart_ms = 1767225600000\n' "$clip"
    printf '[[camera.zone]]\nid = "plaza"\npolygon = [[0.0, 0.0], [768.0, 0.0], [768.0, 576.0], [0.0, 576.0]]\n'
    for r in $(seq 1 "$RULES"); do
      printf '[[rule]]\nid = "walking-%s"\nkind = "zone_intrusion"\ncamera = "plaza"\nzone = "plaza"\nclasses = ["person"]\nmin_duration_ms = 500\n' "$r"
    done
  } > "$1"
}
config "$work/on.toml" true; config "$work/off.toml" false

run() { # run NAME CONFIG → "seconds cpu_seconds violations evidence_bytes"
  rm -rf "$work/lake"
  /usr/bin/time -f '%e %U %S' -o "$work/time-$1.txt" "$bin/itscam" run --config "$2" --no-progress > "$work/run-$1.txt"
  local secs cpu violations bytes
  secs=$(sed -n 's/^itscam run finished in \([0-9.]*\) s.*/\1/p' "$work/run-$1.txt")
  cpu=$(awk '{ print $2 + $3 }' "$work/time-$1.txt")
  violations=$(sed -n 's/^  violations *\([0-9]*\).*/\1/p' "$work/run-$1.txt" | head -1)
  bytes=$(du -sb "$work/lake/evidence" 2>/dev/null | cut -f1); bytes=${bytes:-0}
  echo "$secs $cpu ${violations:-0} $bytes"
}

declare -a on off
for i in $(seq 1 "$RUNS"); do
  off+=("$(run "off-$i" "$work/off.toml")"); echo "off run $i: ${off[-1]}"
  on+=("$(run "on-$i" "$work/on.toml")"); echo "on  run $i: ${on[-1]}"
done
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { local -n runs=$1; for r in "${runs[@]}"; do echo "$r" | cut -d' ' -f"$2"; done | median; }
off_s=$(col off 1); on_s=$(col on 1); off_cpu=$(col off 2); on_cpu=$(col on 2)
violations=$(col on 3); bytes=$(col on 4)

echo
echo "evidence benchmark: $FRAMES frames of vtest.avi (768x576), $RULES rules, CPU ($(nproc) cores), medians of $RUNS runs"
printf '%-34s %10s %10s %12s\n' "run" "frames/s" "CPU s" "violations/s"
printf '%-34s %10.1f %10.1f %12s\n' "evidence off" "$(echo "$FRAMES / $off_s" | bc -l)" "$off_cpu" "-"
printf '%-34s %10.1f %10.1f %12.1f\n' "evidence on (snapshot + clip)" "$(echo "$FRAMES / $on_s" | bc -l)" "$on_cpu" "$(echo "$violations / $on_s" | bc -l)"
printf 'frames/s on vs off: %.3f (goal >= 0.98)\n' "$(echo "$off_s / $on_s" | bc -l)"
printf 'per violation: %.1f ms CPU, %.0f kB stored (%s violations, %s bytes of evidence)\n' \
  "$(echo "($on_cpu - $off_cpu) * 1000 / $violations" | bc -l)" "$(echo "$bytes / $violations / 1000" | bc -l)" "$violations" "$bytes"
