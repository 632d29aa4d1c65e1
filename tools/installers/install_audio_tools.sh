#!/usr/bin/env bash
# Debian tools and data the offline recipe (egs/mini_offline) uses:
#   flite, espeak-ng         speech synthesizers (clean speech; test_ood voices from espeak-ng)
#   sox                      audio utilities
#   fortunes                 English text (fortune-mod quotes): the sentences spoken
#   asterisk-moh-opsound-wav recorded music, 8 kHz (training noise kind "music")
#   sound-theme-freedesktop  recorded desktop alert sounds (test_ood noise kind "alerts")
#   asterisk-core-sounds-en-wav recorded human telephone prompts, 8 kHz (test_ood kind "chatter")
set -euo pipefail
need=()
command -v flite >/dev/null || need+=(flite)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
[ -f /usr/share/games/fortunes/fortunes ] || need+=(fortunes)
[ -f /usr/share/asterisk/moh/macroform-cold_day.wav ] || need+=(asterisk-moh-opsound-wav)
[ -f /usr/share/sounds/freedesktop/stereo/bell.oga ] || need+=(sound-theme-freedesktop)
[ -d /usr/share/asterisk/sounds/en_US_f_Allison ] || need+=(asterisk-core-sounds-en-wav)
[ ${#need[@]} -eq 0 ] && { echo "audio tools present"; exit 0; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
