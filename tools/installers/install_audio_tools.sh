#!/usr/bin/env bash
# Debian tools and data the offline recipe (egs/mini_offline) uses:
#   flite, espeak-ng         speech synthesizers (train/valid/test synthetic speakers)
#   festival + festvox-*     a third synthesizer, heard only in test_ood (ked, slt HTS, Catalan ona)
#   sox                      audio utilities
#   fortunes                 English text (fortune-mod quotes): the sentences spoken
#   ktuberling-data          real recorded words, one native speaker per language
#   hedgewars-data           real recorded voice packs (one actor each) and sound effects
#   asterisk-moh-opsound-wav recorded music, 8 kHz (noise "music")
#   lincity-ng-data          recorded city and machinery sounds (noise "machinery")
#   wesnoth-1.16-data        recorded effects, horn signals, ambient loops (noise "battle", "horns", "nature")
#   openarena-data           recorded weapon sounds and footsteps (noise "weapons", "footsteps")
#   warzone2100-data         recorded vehicle sounds and spoken radio messages (noise "vehicles", "radio")
#   sound-theme-freedesktop  recorded desktop alert sounds (noise "alerts")
#   ufoai-sound              recorded machinery, ventilation, wind, water, fire, night, city ambiences
#                            (test_ambient only: reserved for evaluation, never read by training)
#   btanks-data              recorded city and swamp ambience loops, vehicle sounds (test_ambient only)
# asterisk-core-sounds-* are deliberately not used by any recipe (kept for independent checks).
set -euo pipefail
need=()
command -v flite >/dev/null || need+=(flite)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v text2wave >/dev/null || need+=(festival)
for voice in english/ked_diphone us/cmu_us_slt_arctic_hts catalan/upc_ca_ona_hts; do
    [ -d "/usr/share/festival/voices/${voice}" ] || need+=("$(case ${voice} in
        english/ked_diphone) echo festvox-kdlpc16k;; us/*) echo festvox-us-slt-hts;;
        catalan/*) echo festvox-ca-ona-hts;; esac)")
done
command -v sox >/dev/null || need+=(sox)
[ -f /usr/share/games/fortunes/fortunes ] || need+=(fortunes)
[ -d /usr/share/ktuberling/sounds/en ] || need+=(ktuberling-data)
[ -d /usr/share/games/hedgewars/Data/Sounds/voices ] || need+=(hedgewars-data)
[ -f /usr/share/asterisk/moh/macroform-cold_day.wav ] || need+=(asterisk-moh-opsound-wav)
[ -d /usr/share/games/lincity-ng/sounds ] || need+=(lincity-ng-data)
[ -d /usr/share/games/wesnoth/1.16/data/core/sounds ] || need+=(wesnoth-1.16-data)
[ -f /usr/share/games/openarena/baseoa/pak0.pk3 ] || need+=(openarena-data)
[ -f /usr/share/games/warzone2100/base.wz ] || need+=(warzone2100-data)
[ -f /usr/share/sounds/freedesktop/stereo/bell.oga ] || need+=(sound-theme-freedesktop)
[ -f /usr/share/games/ufoai/base/0snd.pk3 ] || need+=(ufoai-sound)
[ -f /usr/share/games/btanks/data/sounds/ambient/city.ogg ] || need+=(btanks-data)
[ ${#need[@]} -eq 0 ] && { echo "audio tools present"; exit 0; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
# other installers may hold the dpkg lock (tools/installers/*.sh run side by side): wait for it
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=900 "${need[@]}"
