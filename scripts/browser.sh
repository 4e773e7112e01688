#!/usr/bin/env bash
# The dashboard in a real headless Chromium: tests/browser/test_dashboard.py drives it with
# Selenium against `itscam run --http` over the detections example and `itscam serve --config`
# over the sample video, both with [auth] on, and saves the screenshots of README
# (docs/screenshots/). Installs Debian's chromium and chromium-driver (as root, when missing) and
# Selenium (PyPI, pinned) into a venv under ~/.cache/itscam/.
#
# Usage: scripts/browser.sh [unittest args, e.g. Detections]   (after `cargo build -p itscam`)
# Environment:
#   ITSCAM_BIN            the binary (default $CARGO_TARGET_DIR/debug/itscam)
#   ITSCAM_BROWSER_KEEP   keep each server's scratch directory (config, lake, log)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

packages=(chromium chromium-driver python3-venv)
source scripts/lib/debian.sh
debian_install browser.sh "${packages[@]}"

# 4.40.0: later releases need a certifi newer than some PyPI mirrors hold.
version=4.40.0
venv="$HOME/.cache/itscam/venv-selenium-$version"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import selenium" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "selenium==$version"
fi

bin="${ITSCAM_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/itscam}"
[ -x "$bin" ] || { echo "browser.sh: no itscam binary at $bin (cargo build -p itscam)" >&2; exit 1; }
# The video half needs the sample video and the ONNX Runtime library.
[ -f .assets/vtest.avi ] || bash scripts/setup.sh

cd tests/browser
exec "$venv/bin/python" test_dashboard.py --bin "$bin" "$@"
