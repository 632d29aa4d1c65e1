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
command -v wvunpack >/dev/null || pkgs+=(wavpack)  # teeworlds ships WavPack (.wv) files
# shellcheck disable=SC1091
. "$(dirname "$0")/apt_packages.sh"
install_missing "noise pool packages" "${pkgs[@]}"
