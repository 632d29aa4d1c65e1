#!/usr/bin/env bash
# Copy N utterances of a Kaldi-style data dir into a new one (Kaldi's utils/subset_data_dir.sh).
set -euo pipefail
export LC_ALL=C

usage="Usage: subset_data_dir.sh [--first|--last] <src-dir> <num-utt> <dest-dir>
Keeps <num-utt> utterances of <src-dir>'s utt2spk (sorted): evenly spaced over the list by
default (so every speaker of a speaker-sorted list keeps its share), or the first / last ones.
Every table keyed by utterance (*.scp, utt2*, text) is filtered to them, spk2utt is rebuilt,
spk2gender keeps their speakers. <dest-dir> may exist; <src-dir> is never written. Asking for
more utterances than there are copies them all."
mode=even
while [ $# -gt 0 ]; do
    case "$1" in
        --first) mode=first; shift ;;
        --last) mode=last; shift ;;
        --help|-h) echo "$usage"; exit 0 ;;
        -*) echo "subset_data_dir.sh: unknown option $1" >&2; echo "$usage" >&2; exit 1 ;;
        *) break ;;
    esac
done
[ $# -eq 3 ] || { echo "$usage" >&2; exit 1; }
src=${1%/} num=$2 dest=${3%/}
utils=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "subset_data_dir.sh: $*" >&2; exit 1; }
[[ "$num" =~ ^[1-9][0-9]*$ ]] || die "<num-utt> must be a positive whole number, got '$num'"
[ -f "$src/utt2spk" ] || die "$src/utt2spk: file not found"
[ "$(cd "$src" && pwd)" != "$(mkdir -p "$dest" && cd "$dest" && pwd)" ] || die "$dest: the same dir as $src"

tmp=$(mktemp -d "$dest/.subset.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sort -k1,1 "$src/utt2spk" | awk 'NF' > "$tmp/all"
total=$(wc -l < "$tmp/all")
case "$mode" in
    first) head -n "$num" "$tmp/all" ;;
    last) tail -n "$num" "$tmp/all" ;;
    even) awk -v n="$num" -v m="$total" 'BEGIN { if (n > m) n = m; for (i = 0; i < n; i++) pick[int((i + 0.5) * m / n) + 1] = 1 }
                                         pick[NR]' "$tmp/all" ;;
esac > "$tmp/keep"

for path in "$src"/*.scp "$src"/utt2* "$src/text"; do
    [ -f "$path" ] || continue
    name=$(basename "$path")
    "$utils/filter_scp.pl" "$tmp/keep" "$path" > "$tmp/$name"
done
"$utils/utt2spk_to_spk2utt.pl" "$tmp/utt2spk" > "$tmp/spk2utt"
if [ -f "$src/spk2gender" ]; then "$utils/filter_scp.pl" "$tmp/spk2utt" "$src/spk2gender" > "$tmp/spk2gender"; fi
rm "$tmp/all" "$tmp/keep"
for path in "$tmp"/*; do mv "$path" "$dest/"; done
echo "subset_data_dir.sh: $dest: $(wc -l < "$dest/utt2spk") of $total utterances of $src ($mode)"
