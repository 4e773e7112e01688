# Sourced by the scripts that need Debian packages: `debian_install WHO PACKAGE...` installs
# those not installed (apt, as root), or asks the user to (exit 1) when not root.
debian_install() {
  local who=$1; shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "$who: please install: ${missing[*]}" >&2
    exit 1
  fi
}
