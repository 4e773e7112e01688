#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs every test.
# Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the tests need beyond the Rust toolchain.
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

# Doc tests (nextest does not run them), then every unit and integration test.
cargo test --doc --workspace --quiet
cargo nextest run --workspace --all-targets --no-fail-fast "$@"
