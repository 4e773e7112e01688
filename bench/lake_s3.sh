#!/usr/bin/env bash
# Question: how fast does the lake writer store the same table data on an S3 server (SeaweedFS
# on loopback, started here) as on the local filesystem — rows/s and MB/s of Parquet, timed to
# the last commit — and what is the ratio? Same binary, same rows, same writer settings.
# Run with: bench/lake_s3.sh       (ROWS=4000000 CAMERAS=4 RUNS=3; PROFILE=dev builds faster)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-4000000}; CAMERAS=${CAMERAS:-4}; RUNS=${RUNS:-3}; PROFILE=${PROFILE:-release}
work=$(mktemp -d)
trap 'bash scripts/servers/seaweedfs.sh stop "$work/s3" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

cargo build --profile "$PROFILE" -q -p itscam-bench --bin lake-write-bench
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
bin=target/$dir/lake-write-bench
while IFS='=' read -r k v; do declare "S3_$k=$v"; done < <(bash scripts/servers/seaweedfs.sh start "$work/s3" bench)

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
declare -a local_rates s3_rates local_mb s3_mb
for run in $(seq 1 "$RUNS"); do
  # Alternate the two targets so that other load on the machine hits both alike.
  out=$($bin --lake "file://$work/lake-$run" --rows "$ROWS" --cameras "$CAMERAS")
  local_rates+=("$(field "$out" rows_per_s)"); local_mb+=("$(field "$out" mb_per_s)")
  files=$(field "$out" files); bytes=$(field "$out" bytes)
  out=$(AWS_ENDPOINT_URL="$S3_endpoint" AWS_ACCESS_KEY_ID="$S3_access_key_id" AWS_SECRET_ACCESS_KEY="$S3_secret_access_key" \
    $bin --lake "s3://$S3_bucket/run-$run" --rows "$ROWS" --cameras "$CAMERAS")
  s3_rates+=("$(field "$out" rows_per_s)"); s3_mb+=("$(field "$out" mb_per_s)")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
lr=$(median "${local_rates[@]}"); sr=$(median "${s3_rates[@]}")
lm=$(median "${local_mb[@]}"); sm=$(median "${s3_mb[@]}")
echo
echo "lake write throughput: $ROWS detections rows, $CAMERAS partitions, $files files of $((bytes / 1000000)) MB Parquet in all, median of $RUNS runs ($PROFILE build)"
printf '| %-34s | %12s | %8s | %8s |\n' target rows/s MB/s "vs local"
printf '|%s|%s|%s|%s|\n' "------------------------------------" "--------------" "----------" "----------"
printf '| %-34s | %12.0f | %8.1f | %8.2f |\n' "local filesystem (file://)" "$lr" "$lm" 1
printf '| %-34s | %12.0f | %8.1f | %8.2f |\n' "SeaweedFS 4.48 on loopback (s3://)" "$sr" "$sm" "$(python3 -c "print($sr / $lr)")"
echo "runs: local ${local_rates[*]} rows/s; s3 ${s3_rates[*]} rows/s"
