# Sourced by the installers: `install_missing LABEL PKG...` installs the Debian packages of the
# list that are not installed yet, one at a time (a slow mirror still leaves the others usable),
# waiting for the dpkg lock; it prints "LABEL present" when none is missing.
install_missing() {
    local label=$1; shift
    local need=() p sudo=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && { echo "${label} present"; return 0; }
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    [ -n "$(ls /var/lib/apt/lists/*_Packages* 2>/dev/null)" ] || $sudo apt-get update -qq
    for p in "${need[@]}"; do
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            -o DPkg::Lock::Timeout=900 "$p"
    done
}
