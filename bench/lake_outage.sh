#!/usr/bin/env bash
# Question (issue 20): when the S3 lake goes away for OUTAGE_S seconds while 10 cameras run,
# does the pipeline keep its speed (goal: ≥ 0.9× the detections/s of a run without outage),
# how fast is the spool drained to S3 once it is back (rows/s), and how long from its return
# until everything is committed (the lake `up` again)?
# Each outage: a run of the same input with S3 (SeaweedFS on loopback) cut by a proxy right
# after the start and restored OUTAGE_S s later; the baseline is the same run with no cut, in
# the same invocation. Both lakes are then compared table by table (row counts).
# Run with: bench/lake_outage.sh      (OUTAGES="30 180" SECONDS_OF_INPUT=600 CAMERAS=10)
# Writes bench/results/lake-outage.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
OUTAGES=${OUTAGES:-"30 180"}; SECONDS_OF_INPUT=${SECONDS_OF_INPUT:-600}; CAMERAS=${CAMERAS:-10}
work=$(mktemp -d)
proxy_pid=""
trap '[ -n "$proxy_pid" ] && kill $proxy_pid 2>/dev/null; bash scripts/servers/seaweedfs.sh stop "$work/s3" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
out=bench/results/lake-outage.txt

nice cargo build --release -q -p itscam -p itscam-bench
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release")
$bin/gen-detections --cameras "$CAMERAS" --objects 15 --fps 10 --seconds "$SECONDS_OF_INPUT" --per-camera --out "$work/{camera}.jsonl" 2>/dev/null
while IFS='=' read -r k v; do declare "S3_$k=$v"; done < <(bash scripts/servers/seaweedfs.sh start "$work/s3" bench)
exec 3< <(python3 bench/cut_proxy.py "${S3_endpoint#http://}")
read -r proxy <&3
proxy_pid=$(pgrep -n -f "cut_proxy.py ${S3_endpoint#http://}")
source bench/camera_config.sh

# The config of a run writing to s3://bench/PREFIX through the proxy.
config() { # prefix
  camera_config "$CAMERAS" "$work" 1 | sed "s|^url = \"file://.*\"|url = \"s3://$S3_bucket/$1\"|"
  printf '\n[lake.s3]\nendpoint = "http://%s"\naccess_key_id = "%s"\nsecret_access_key = "%s"\n' "$proxy" "$S3_access_key_id" "$S3_secret_access_key"
  printf '\n[lake.writer]\nmax_age_ms = 5000\n\n[lake.spool]\ndir = "%s/spool-%s"\nexit_wait_ms = 3600000\n' "$work" "$1"
}
stamp() { date +%s.%N; }
# Seconds between the first log lines containing $2 and $3 of log $1 (RFC 3339 stamps).
between() { python3 - "$@" <<'PY'
import sys, datetime
log, a, b = sys.argv[1:4]
t = {}
for line in open(log):
    for k in (a, b):
        if k in line:
            t.setdefault(k, []).append(datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp())
print(f"{t[b][-1] - t[a][0]:.2f}")
PY
}
rows() { awk '/^    [a-z_]+ +[0-9]+ rows in/ { s += $2 } END { print s }' "$1"; }

# One run; OUTAGE 0: no cut. Prints "detections input_s drain_s answered_s rows".
run() { # prefix outage_s
  config "$1" > "$work/$1.toml"
  local log="$work/$1.log" started cut_at restored
  ITSCAM_LOG=info $bin/itscam run --config "$work/$1.toml" --no-progress > "$work/$1.txt" 2> "$log" &
  local pid=$!
  until grep -q "pipeline started" "$log"; do sleep 0.05; done
  if [ "$2" -gt 0 ]; then
    kill -USR1 "$proxy_pid"; cut_at=$(stamp)
    while kill -0 $pid 2>/dev/null && [ "$(echo "$(stamp) - $cut_at < $2" | bc)" = 1 ]; do sleep 0.2; done
    kill -USR2 "$proxy_pid"; restored=$(stamp)
  fi
  wait $pid
  local ended; ended=$(stamp)
  local input_s; input_s=$(between "$log" "pipeline started" "the writer has taken every row")
  local drain_s=0 answered_s=0
  if [ "$2" -gt 0 ]; then
    drain_s=$(echo "$ended - $restored" | bc)
    answered_s=$(python3 -c "
import datetime, sys
t = [datetime.datetime.fromisoformat(l.split()[0].replace('Z', '+00:00')).timestamp() for l in open('$log') if 'the lake answers again' in l]
print(f'{t[-1] - $restored:.2f}' if t else 'n/a')")
  fi
  echo "$(awk '/^  detections/ { print $2 }' "$work/$1.txt") $input_s $drain_s $answered_s $(rows "$work/$1.txt")"
}

mkdir -p bench/results
{
  echo "# bench/lake_outage.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
  echo "# command: OUTAGES=\"$OUTAGES\" SECONDS_OF_INPUT=$SECONDS_OF_INPUT CAMERAS=$CAMERAS bench/lake_outage.sh"
  echo "$CAMERAS cameras × $SECONDS_OF_INPUT s (15 objects × 10 fps), 1 worker, lake on SeaweedFS (loopback) behind a proxy; [lake.writer] max_age_ms = 5000"
  read -r dets base_s _ _ base_rows < <(run baseline 0)
  printf '%-22s %11s %12s %10s %14s %15s %14s %12s\n' run detections process_s "det/s" "vs baseline" "restored→done s" "drain rows/s" "noticed s"
  printf '%-22s %11s %12s %10.0f %14s %15s %14s %12s\n' "no outage" "$dets" "$base_s" "$(echo "$dets / $base_s" | bc -l)" 1.00 - - -
  for o in $OUTAGES; do
    read -r d input_s drain_s answered_s r < <(run "outage-$o" "$o")
    [ "$r" = "$base_rows" ] || echo "MISMATCH: $r rows committed after the outage, $base_rows without"
    printf '%-22s %11s %12s %10.0f %14.2f %15.1f %14.0f %12s\n' "S3 away ${o} s" "$d" "$input_s" "$(echo "$d / $input_s" | bc -l)" \
      "$(echo "$base_s / $input_s" | bc -l)" "$drain_s" "$(echo "$r / $drain_s" | bc -l)" "$answered_s"
  done
  echo "rows committed per run (all tables): $base_rows; process_s: from the start until the writer has taken every row (committed, or in the spool); restored→done: S3 back until every spooled row is committed and the run ended; noticed: S3 back until the writer's next try reached it (backoff 0.5 s doubling to 10 s)"
} | tee "$out"
