#!/usr/bin/env bash
# Real clients for the lake: pyarrow and DuckDB (PyPI, pinned) in a virtual environment under
# $HOME/.cache/itscam/, used by the tests to read the committed files of a lake (S3 and local,
# both layouts of [lake] partition_by).
#
#   scripts/servers/pyarrow.sh install     create the venv and install pyarrow and duckdb (idempotent)
#   scripts/servers/pyarrow.sh python      print the venv's python (installs if needed)
set -euo pipefail

VERSION=22.0.0
DUCKDB_VERSION=1.4.4
VENV="${ITSCAM_CACHE_DIR:-$HOME/.cache/itscam}/venv-pyarrow-$VERSION-duckdb-$DUCKDB_VERSION"

log() { printf 'pyarrow.sh: %s\n' "$*" >&2; }

install() {
  if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import duckdb, pyarrow, sys; sys.exit(pyarrow.__version__ != '$VERSION' or duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
    return 0
  fi
  log "installing pyarrow==$VERSION and duckdb==$DUCKDB_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "pyarrow==$VERSION" "duckdb==$DUCKDB_VERSION" >&2
  "$VENV/bin/python" -c "import duckdb, pyarrow.fs, pyarrow.parquet" || { log "ERROR: pyarrow or duckdb does not import"; exit 1; }
}

case "${1:-}" in
  install) install ;;
  python) install && echo "$VENV/bin/python" ;;
  *) echo "usage: $0 install | python" >&2; exit 1 ;;
esac
