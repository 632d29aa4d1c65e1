#!/usr/bin/env bash
# Join several Kaldi-style data dirs into one (Kaldi's utils/combine_data.sh).
set -euo pipefail
export LC_ALL=C

usage="Usage: combine_data.sh <dest-dir> <src-dir1> <src-dir2> ...
Every table keyed by utterance (*.scp, utt2*, text) that all sources have is concatenated and
sorted into <dest-dir>; a table only some sources have is left out (named on stderr); spk2utt
is rebuilt from utt2spk when there is one. Every source needs a wav.scp (noise pools without
speakers combine too). An utterance id in two sources is an error (naming it and both dirs).
The sources are never written; <dest-dir> must not be one of them."
case "${1:-}" in --help|-h) echo "$usage"; exit 0 ;; esac
[ $# -ge 2 ] || { echo "$usage" >&2; exit 1; }
dest=${1%/}; shift
utils=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "combine_data.sh: $*" >&2; exit 1; }
mkdir -p "$dest"
for src in "$@"; do
    [ -f "$src/wav.scp" ] || die "$src/wav.scp: file not found"
    [ "$(cd "$src" && pwd)" != "$(cd "$dest" && pwd)" ] || die "$dest is also a source"
done
dup=$(cat "${@/%//wav.scp}" | awk '{print $1}' | sort | uniq -d | head -n 1)
if [ -n "$dup" ]; then
    die "utterance '$dup' is in more than one source: $(grep -l "^$dup " "${@/%//wav.scp}" | xargs -n1 dirname | xargs)"
fi

tmp=$(mktemp -d "$dest/.combine.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
names=$(for src in "$@"; do (cd "$src" && ls -1 -- *.scp utt2* text 2>/dev/null || true); done | sort -u)
for name in $names; do
    missing=$(for src in "$@"; do [ -f "$src/$name" ] || echo "$src"; done | xargs)
    if [ -n "$missing" ]; then echo "combine_data.sh: $name left out: not in $missing" >&2; continue; fi
    cat "${@/%//$name}" | sort -s -k1,1 > "$tmp/$name"
done
if [ -f "$tmp/utt2spk" ]; then "$utils/utt2spk_to_spk2utt.pl" "$tmp/utt2spk" > "$tmp/spk2utt"; fi
for path in "$tmp"/*; do mv "$path" "$dest/"; done
echo "combine_data.sh: $dest: $(wc -l < "$dest/wav.scp") utterances from $# dirs"
