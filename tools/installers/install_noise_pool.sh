#!/usr/bin/env bash
# Debian data packages the large recorded noise pool (egs/mini_offline/local/make_noise_pool.py)
# extracts clips from: game sound effects, ambiences and music (about 2.4 GB of downloads, 0ad-data
# alone 1.4 GB). Check-then-install: a package already present is not fetched again.
# The evaluation-only packages (ufoai-sound, btanks-data, searchandrescue-data) are NOT listed:
# they feed test_ambient and must never reach training. wavpack decodes teeworlds' .wv files.
set -euo pipefail
pkgs=(0ad-data megaglest-data openclonk-data widelands-data scorched3d-data boswars-data
      endless-sky-data lugaru-data lmms-common minetest-data teeworlds-data bucklespring-data
      supertuxkart-data)
need=()
command -v wvunpack >/dev/null || need+=(wavpack)  # teeworlds ships WavPack (.wv) files
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && { echo "noise pool packages present"; exit 0; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
[ -n "$(ls /var/lib/apt/lists/*_Packages* 2>/dev/null)" ] || $SUDO apt-get update -qq
# one package at a time, biggest first, so that a slow mirror still leaves the others usable
for p in "${need[@]}"; do
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=900 "$p"
done
