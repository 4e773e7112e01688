#!/usr/bin/env bash
# A real client for the lake: pyarrow (PyPI, pinned) in a virtual environment under
# $HOME/.cache/itscam/, used by the tests to read the committed files of an S3 lake.
#
#   scripts/servers/pyarrow.sh install     create the venv and install pyarrow (idempotent)
#   scripts/servers/pyarrow.sh python      print the venv's python (installs if needed)
set -euo pipefail

VERSION=22.0.0
VENV="${ITSCAM_CACHE_DIR:-$HOME/.cache/itscam}/venv-pyarrow-$VERSION"

log() { printf 'pyarrow.sh: %s\n' "$*" >&2; }

install() {
  if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import pyarrow, sys; sys.exit(pyarrow.__version__ != '$VERSION')" 2>/dev/null; then
    return 0
  fi
  log "installing pyarrow==$VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "pyarrow==$VERSION" >&2
  "$VENV/bin/python" -c "import pyarrow.fs, pyarrow.parquet" || { log "ERROR: pyarrow does not import"; exit 1; }
}

case "${1:-}" in
  install) install ;;
  python) install && echo "$VENV/bin/python" ;;
  *) echo "usage: $0 install | python" >&2; exit 1 ;;
esac
