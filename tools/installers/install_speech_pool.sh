#!/usr/bin/env bash
# Debian data packages the large real clean-speech pool (egs/mini_offline/local/make_speech_pool.py)
# extracts utterances from: festvox-ru (read Russian sentences, one male voice; pulls in festival),
# fillets-ng-data-cs (Czech acted dialogue), tuxpaint-stamps-default (spoken stamp descriptions,
# one speaker per language), klettres-data (letters and syllables, about 20 speakers), gcin-voice
# (Mandarin syllables). About 430 MB of downloads. Check-then-install: a package already present
# is not fetched again. ktuberling/hedgewars stay with the corpus (install_audio_tools.sh).
set -euo pipefail
pkgs=(tuxpaint-stamps-default festvox-ru klettres-data fillets-ng-data-cs gcin-voice)
need=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && { echo "speech pool packages present"; exit 0; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
[ -n "$(ls /var/lib/apt/lists/*_Packages* 2>/dev/null)" ] || $SUDO apt-get update -qq
# one package at a time, biggest first, so that a slow mirror still leaves the others usable
for p in "${need[@]}"; do
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=900 "$p"
done
