#!/usr/bin/env bash
# Debian data packages the large real clean-speech pool (egs/mini_offline/local/make_speech_pool.py)
# extracts utterances from: festvox-ru (read Russian sentences, one male voice; pulls in festival),
# fillets-ng-data-cs (Czech acted dialogue), tuxpaint-stamps-default (spoken stamp descriptions,
# one speaker per language), klettres-data (letters and syllables, about 20 speakers), gcin-voice
# (Mandarin syllables). About 430 MB of downloads. Check-then-install: a package already present
# is not fetched again. ktuberling/hedgewars stay with the corpus (install_audio_tools.sh).
set -euo pipefail
pkgs=(tuxpaint-stamps-default festvox-ru klettres-data fillets-ng-data-cs gcin-voice)
# shellcheck disable=SC1091
. "$(dirname "$0")/apt_packages.sh"
install_missing "speech pool packages" "${pkgs[@]}"
