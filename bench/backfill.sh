#!/usr/bin/env bash
# Question: how fast does `itscam rules backfill` run a rule over a lake's history, next to
# DuckDB evaluating the same condition on the same Parquet files?
#   A lake of ROWS_M million detections (10 cameras × 15 objects × 10 fps, calibrated, one zone
#   each) written with no rule; then a speeding rule in the rule language backfilled over the
#   whole range (every stored row replayed through the observe step, the rule and its episodes,
#   violations committed part by part), and DuckDB counting the stored rows whose stored speed
#   is over the same threshold inside the zone's ground rectangle (a scan: no tracks, no episodes).
# Goal (issue 16): report rows/s of both; the backfill does the full rule semantics.
# Run with: bench/backfill.sh            (ROWS_M=10 WORK=dir to change)
# Writes bench/results/backfill.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS_M=${ROWS_M:-10}; CAMERAS=10; OBJECTS=15; FPS=10
seconds=$((ROWS_M * 1000000 / (CAMERAS * OBJECTS * FPS)))
work=${WORK:-$HOME/.cache/itscam/bench-backfill}; mkdir -p "$work"
out=bench/results/backfill.txt

nice cargo build --release -q -p itscam -p itscam-bench
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release")
[ -s "$work/cam-$CAMERAS.jsonl" ] || $bin/gen-detections --cameras $CAMERAS --objects $OBJECTS --fps $FPS --seconds "$seconds" --per-camera --out "$work/{camera}.jsonl" 2>/dev/null

source bench/camera_config.sh
# The run: no rule. The backfill: the same pipeline with one rule for every camera.
camera_config $CAMERAS "$work" 2 | awk '/^\[\[rule\]\]/ { skip = 1 } /^\[\[camera\]\]/ { skip = 0 } !skip' > "$work/run.toml"
rule="fast_$(date +%s)"   # a new rule id: a new backfill job, nothing skipped
{ cat "$work/run.toml"; printf '[[rule]]\nid = "%s"\nsql = "SELECT max(speed_kmh) FROM zone_presence WHERE zone_id = '"'"'approach'"'"' AND speed_over(55) FOR 1 s"\n' "$rule"; } > "$work/backfill.toml"
if [ ! -d "$work/lake" ]; then
  $bin/itscam run --config "$work/run.toml" --no-progress > "$work/run.txt"
fi
span=$($bin/itscam query --lake "file://$work/lake" --format csv "SELECT min(ts_ms), max(ts_ms) + 1, count(*) FROM detections" | tail -1)
IFS=, read -r from to rows <<< "$span"

duck=python3
if ! python3 -c "import duckdb" 2>/dev/null; then
  venv=$HOME/.cache/itscam/venv-duckdb
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c "import duckdb" 2>/dev/null || "$venv/bin/pip" install -q duckdb
  duck="$venv/bin/python"
fi

mkdir -p bench/results
{
  echo "# bench/backfill.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# command: ROWS_M=$ROWS_M bench/backfill.sh"
  echo "lake: $rows detections, $CAMERAS cameras, $(( (to - from) / 1000 )) s each; rule: SELECT max(speed_kmh) FROM zone_presence WHERE zone_id = 'approach' AND speed_over(55) FOR 1 s"
  start=$(date +%s.%N)
  $bin/itscam rules backfill "$rule" --from "$from" --to "$to" --config "$work/backfill.toml" 2>/dev/null | tee "$work/backfill.out"
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc)
  echo "itscam rules backfill: $(printf '%.1f' "$secs") s, $(echo "$rows / $secs" | bc) stored detections/s"
  "$duck" - "$work/lake" "$rows" <<'PY'
import sys, time, duckdb
lake, rows = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
q = f"""SELECT count(*) FROM read_parquet('{lake}/detections/**/*.parquet', hive_partitioning = true, union_by_name = true)
        WHERE speed_kmh > 55 AND ground_x BETWEEN 10 AND 85 AND ground_y BETWEEN 0 AND 25"""
best = None
for _ in range(3):
    t = time.time(); n = con.execute(q).fetchone()[0]; dt = time.time() - t
    best = dt if best is None else min(best, dt)
print(f"duckdb {duckdb.__version__} scan of the same files (stored speed > 55 km/h in the zone's ground box; {n} rows): {best:.2f} s, {rows / best:.0f} rows/s (best of 3)")
PY
} | tee "$out"
