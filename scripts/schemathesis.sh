#!/usr/bin/env bash
# The API against its own OpenAPI document: schemathesis (PyPI, pinned) runs every check
# (`--checks all`, `ignored_auth` included) on `itscam run --http` over the detections example
# with authentication on ([auth] enabled, an admin's API key made with `itscam users`), and
# fails on any failure.
#
# Usage: scripts/schemathesis.sh            (after `cargo build -p itscam`)
# Environment:
#   SCHEMATHESIS_HEADERS     extra request headers, one `Name: value` per line
#   SCHEMATHESIS_EXAMPLES    examples per operation and phase (default 100)
#   SCHEMATHESIS_SEED        the random seed (default 1: the same cases each run)
#   ITSCAM_BIN               the binary (default $CARGO_TARGET_DIR/debug/itscam)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

version=4.32.5
venv="$HOME/.cache/itscam/venv-schemathesis-$version"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

bin="${ITSCAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/itscam}"
[ -x "$bin" ] || { echo "schemathesis.sh: no itscam binary at $bin (cargo build -p itscam)" >&2; exit 1; }

# The detections example with its cameras on standard input, which this script holds open: the
# pipeline (and its API, alert hub, rules) runs until the check is done.
work=$(mktemp -d)
pid=
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
sed -e "s|detections:examples/data/two-cameras.jsonl|detections:-|" \
    -e "s|signals:examples/data/|signals:$root/examples/data/|" \
    -e "s|file://./lake|file://$work/lake|" examples/detections/config.toml >"$work/config.toml"
# Authentication on; the rate limits out of the way of a fuzzer that sends thousands of requests.
printf '\n[auth]\nenabled = true\nrate_per_s = 100000\nrate_burst = 100000\n' >>"$work/config.toml"
printf '%s\n' "schemathesis-$RANDOM-$RANDOM-password" | "$bin" users add ci-admin --role admin --config "$work/config.toml" >/dev/null
key=$("$bin" users keys add ci-admin --label schemathesis --config "$work/config.toml" 2>/dev/null)
mkfifo "$work/stdin"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" run --config "$work/config.toml" --no-progress --http "127.0.0.1:$port" <"$work/stdin" >"$work/run.log" 2>&1 &
pid=$!
exec 3>"$work/stdin"
cat examples/data/two-cameras.jsonl >&3

# Ready when /health answers (polled; the process must still be alive).
base="http://127.0.0.1:$port"
until curl -sf -H "X-API-Key: $key" "$base/health" >/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/run.log" >&2; echo "schemathesis.sh: itscam exited before it answered" >&2; exit 1; }
  sleep 0.1 # polling period, not a synchronization
done

args=(--config-file "$root/scripts/schemathesis.toml" run "$base/api/v1/openapi.json" --url "$base" --checks all
  --max-examples "${SCHEMATHESIS_EXAMPLES:-100}" --seed "${SCHEMATHESIS_SEED:-1}" --request-timeout 10 --no-color
  # Endless Server-Sent Events streams have no response to check (engine/tests/it/alerts.rs and
  # engine/tests/it/live_feed.rs test them).
  --exclude-path /api/v1/alerts/stream --exclude-path '/api/v1/cameras/{id}/live')
args+=(--header "X-API-Key: $key")
while IFS= read -r header; do
  [ -n "$header" ] && args+=(--header "$header")
done <<<"${SCHEMATHESIS_HEADERS:-}"
# From the scratch directory: schemathesis keeps its example database in the working directory.
(cd "$work" && "$venv/bin/schemathesis" "${args[@]}")
