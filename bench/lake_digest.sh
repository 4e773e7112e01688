#!/usr/bin/env bash
# Question: do two runs write the same tables? Prints every table of a lake as sorted CSV rows
# (wall-clock columns left out), one section per table, so two lakes compare with `diff`.
# Used to check that a refactoring changes no output (issue 11): run the same config with the
# old and the new binary into two lakes, then `diff <(bench/lake_digest.sh A) <(bench/lake_digest.sh B)`.
# Run with: bench/lake_digest.sh LAKE_URL_OR_PATH        (ITSCAM=path to the binary)
set -euo pipefail
lake=${1:?usage: bench/lake_digest.sh LAKE}
itscam=${ITSCAM:-itscam}
# Columns that hold wall-clock times, different in every run.
declare -A skip=([errors]=rejected_at_ms [alerts]=changed_at_ms)
for table in detections tracks frame_quality errors line_crossings zone_events traffic_metrics violations anomalies alerts; do
  cols=$("$itscam" query --lake "$lake" --format csv --max-rows 1000 \
    "SELECT column_name FROM information_schema.columns WHERE table_name = '$table' ORDER BY ordinal_position" | tail -n +2)
  keep=$(echo "$cols" | grep -vx "${skip[$table]:-}" | paste -sd, -)
  echo "== $table"
  "$itscam" query --lake "$lake" --format csv --max-rows 100000000 --timeout-ms 600000 "SELECT $keep FROM $table" | tail -n +2 | LC_ALL=C sort
done
