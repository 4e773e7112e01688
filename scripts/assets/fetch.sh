#!/usr/bin/env bash
# Fetch the offline runtime assets of itscam from package registries only.
#
#   scripts/assets/fetch.sh [DEST]      (DEST defaults to <repo>/.assets)
#
# Puts into DEST:
#   libonnxruntime.so.1.32.0   ONNX Runtime CPU shared library, taken from the PyPI wheel
#                              onnxruntime==1.32.0 (cp311, manylinux_2_28_x86_64; MIT)
#   libonnxruntime.so.1        symlink (the library's SONAME)
#   libonnxruntime.so          symlink (what ORT_DYLIB_PATH / ort's load-dynamic should point to)
#   vtest.avi                  768x576, 10 fps, 795 frames of a fixed camera over a plaza, from the
#                              Debian package opencv-doc (Apache-2.0 AND BSD-3-Clause)
#
# Idempotent: a file whose sha256 already matches is left alone, so a second run only hashes.
# Needs: python3 -m pip (or pip), unzip, apt-get, dpkg-deb, tar, sha256sum. x86_64 Linux only
# (the recorded hashes are for the x86_64 wheel). If `apt-get download` fails, `apt-get update`
# is run once (needs root) and the download retried.
set -euo pipefail

ORT_VERSION=1.32.0
ORT_SO=libonnxruntime.so.${ORT_VERSION}
ORT_SO_SHA256=6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f
# Pin the exact wheel, independent of the host's Python, so the hash above always applies.
ORT_WHEEL_PYTHON=3.11
ORT_WHEEL_ABI=cp311
ORT_WHEEL_PLATFORM=manylinux_2_28_x86_64

VTEST=vtest.avi
VTEST_SHA256=45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf
VTEST_DEB_PKG=opencv-doc
VTEST_DEB_PATH=./usr/share/doc/opencv-doc/examples/data/vtest.avi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${1:-$ROOT/.assets}"
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"

log() { printf 'fetch.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# sha_ok FILE SHA256 -> 0 if FILE exists and has that hash
sha_ok() {
  [[ -f "$1" ]] || return 1
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [[ "$got" == "$2" ]]
}

# install_checked SRC DEST_NAME SHA256: verify SRC, then move it into DEST atomically
install_checked() {
  local src="$1" name="$2" want="$3" got
  [[ -f "$src" ]] || die "expected file not produced: $src"
  got="$(sha256sum "$src" | cut -d' ' -f1)"
  [[ "$got" == "$want" ]] || die "sha256 mismatch for $name: got $got, want $want"
  chmod 0644 "$src"
  mv -f "$src" "$DEST/.$name.partial"
  mv -f "$DEST/.$name.partial" "$DEST/$name"
  log "installed $DEST/$name (sha256 $got)"
}

TMP=""
tmpdir() {
  if [[ -z "$TMP" ]]; then
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/itscam-assets.XXXXXX")"
    trap 'rm -rf "$TMP"' EXIT
  fi
}

pip_cmd() {
  if python3 -m pip --version >/dev/null 2>&1; then
    python3 -m pip "$@"
  elif command -v pip >/dev/null 2>&1; then
    pip "$@"
  else
    die "neither 'python3 -m pip' nor 'pip' is available"
  fi
}

# ---- ONNX Runtime shared library -------------------------------------------------------------
if sha_ok "$DEST/$ORT_SO" "$ORT_SO_SHA256"; then
  log "$ORT_SO present and verified"
else
  [[ "$(uname -m)" == "x86_64" ]] || die "only x86_64 is supported (hash recorded for the x86_64 wheel)"
  command -v unzip >/dev/null || die "unzip is required (apt-get install -y unzip)"
  tmpdir
  log "downloading onnxruntime==$ORT_VERSION wheel from PyPI"
  pip_cmd download --quiet --no-deps --only-binary=:all: \
    --python-version "$ORT_WHEEL_PYTHON" --implementation cp --abi "$ORT_WHEEL_ABI" \
    --platform "$ORT_WHEEL_PLATFORM" -d "$TMP/wheel" "onnxruntime==$ORT_VERSION"
  wheel=("$TMP"/wheel/onnxruntime-"$ORT_VERSION"-*.whl)
  [[ -f "${wheel[0]}" ]] || die "wheel not downloaded"
  unzip -q -j -o "${wheel[0]}" "onnxruntime/capi/$ORT_SO" -d "$TMP/ort"
  install_checked "$TMP/ort/$ORT_SO" "$ORT_SO" "$ORT_SO_SHA256"
fi
for link in libonnxruntime.so.1 libonnxruntime.so; do
  if [[ "$(readlink "$DEST/$link" 2>/dev/null || true)" != "$ORT_SO" ]]; then
    ln -sfn "$ORT_SO" "$DEST/$link"
    log "linked $DEST/$link -> $ORT_SO"
  fi
done

# ---- vtest.avi from Debian opencv-doc ----------------------------------------------------------
if sha_ok "$DEST/$VTEST" "$VTEST_SHA256"; then
  log "$VTEST present and verified"
else
  command -v apt-get >/dev/null || die "apt-get is required for $VTEST"
  command -v dpkg-deb >/dev/null || die "dpkg-deb is required for $VTEST"
  tmpdir
  mkdir -p "$TMP/deb"
  log "downloading Debian package $VTEST_DEB_PKG"
  if ! (cd "$TMP/deb" && apt-get download -q "$VTEST_DEB_PKG"); then
    log "apt-get download failed; running apt-get update and retrying"
    apt-get update -q
    (cd "$TMP/deb" && apt-get download -q "$VTEST_DEB_PKG")
  fi
  debs=("$TMP"/deb/"$VTEST_DEB_PKG"_*.deb)
  [[ -f "${debs[0]}" ]] || die "$VTEST_DEB_PKG .deb not downloaded"
  mkdir -p "$TMP/x"
  dpkg-deb --fsys-tarfile "${debs[0]}" | tar -x -C "$TMP/x" "$VTEST_DEB_PATH"
  install_checked "$TMP/x/$VTEST_DEB_PATH" "$VTEST" "$VTEST_SHA256"
fi

log "assets ready in $DEST"
