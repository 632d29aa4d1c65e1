#!/usr/bin/env bash
# Make a Kaldi-style data dir consistent: sort every table (LC_ALL=C), keep only the
# utterances present in every table, regenerate spk2utt, back up the originals.
set -euo pipefail
export LC_ALL=C

usage="Usage: fix_data_dir.sh [--utt_extra_files \"f1 f2\"] [--spk_extra_files \"f3\"] <data-dir>
Tables per utterance: every *.scp (wav.scp, spk1.scp, noise1.scp, ...), utt2spk, text,
segments and utt2* files (utt2num_samples, utt2dur, ...). With a segments file, wav.scp
(and reco2*) are per recording: an utterance needs its recording in wav.scp, and
recordings no utterance uses are dropped. spk2gender keeps the remaining speakers; spk2utt
is rebuilt from utt2spk (utt2spk is built from spk2utt when only that exists). Blank lines
and repeated keys (all but the first line of a key) are dropped. Other files are left as
they are. The originals are copied to <data-dir>/.backup/ first.
--utt_extra_files / --spk_extra_files (as in Kaldi and ESPnet): more files keyed by utterance /
speaker, filtered to the kept utterances / speakers (names absent from the dir are skipped);
*.scp and utt2* files are handled without being named."
utt_extra_files= spk_extra_files=
while [ $# -gt 1 ]; do
    case "$1" in
        --utt_extra_files|--utt-extra-files) utt_extra_files=$2; shift 2 ;;
        --spk_extra_files|--spk-extra-files) spk_extra_files=$2; shift 2 ;;
        --utt_extra_files=*|--utt-extra-files=*) utt_extra_files=${1#*=}; shift ;;
        --spk_extra_files=*|--spk-extra-files=*) spk_extra_files=${1#*=}; shift ;;
        -*) echo "fix_data_dir.sh: unknown option $1" >&2; echo "$usage" >&2; exit 1 ;;
        *) break ;;
    esac
done
if [ $# -ne 1 ] || [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    echo "$usage" >&2
    [ $# -eq 1 ] && exit 0 || exit 1
fi
dir=${1%/}
utils=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=$(basename "$0")
die() { echo "$prog: $*" >&2; exit 1; }
[ -d "$dir" ] || die "$dir: no such directory"
[ -f "$dir/wav.scp" ] || die "$dir/wav.scp: file not found (every data dir needs one)"

tmp=$(mktemp -d "$dir/.fix_data_dir.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Which tables are keyed by utterance, recording or speaker.
utt_tables=() reco_tables=() spk_tables=()
has_segments=false
if [ -f "$dir/segments" ]; then has_segments=true; fi
for path in "$dir"/*.scp "$dir"/utt2* "$dir/text" "$dir/segments"; do
    [ -f "$path" ] || continue
    name=$(basename "$path")
    if $has_segments && [ "$name" = wav.scp ]; then reco_tables+=("$name")
    else utt_tables+=("$name"); fi
done
if [ ! -f "$dir/utt2spk" ] && [ -f "$dir/spk2utt" ]; then
    "$utils/spk2utt_to_utt2spk.pl" "$dir/spk2utt" > "$tmp/utt2spk.derived"
    utt_tables+=(utt2spk)
fi
if $has_segments; then
    for name in reco2file_and_channel reco2dur reco2num_samples; do
        if [ -f "$dir/$name" ]; then reco_tables+=("$name"); fi
    done
fi
if [ -f "$dir/spk2gender" ]; then spk_tables+=(spk2gender); fi
# Named extra tables: filtered like the others, without limiting which utterances are kept.
utt_extra=()
for name in $utt_extra_files; do
    case " ${utt_tables[*]} ${reco_tables[*]} " in *" $name "*) continue ;; esac
    if [ -f "$dir/$name" ]; then utt_extra+=("$name"); fi
done
for name in $spk_extra_files; do
    case " ${spk_tables[*]} " in *" $name "*) continue ;; esac
    if [ -f "$dir/$name" ]; then spk_tables+=("$name"); fi
done

# Sorted copies without blank lines or repeated keys; keys of each utterance table.
for name in "${utt_tables[@]}" "${reco_tables[@]}" "${spk_tables[@]}" "${utt_extra[@]}"; do
    src="$dir/$name"
    if [ "$name" = utt2spk ] && [ -f "$tmp/utt2spk.derived" ]; then src="$tmp/utt2spk.derived"; fi
    awk 'NF && !seen[$1]++' "$src" | sort -s -k1,1 > "$tmp/$name"
    dups=$(( $(awk 'NF' "$src" | wc -l) - $(wc -l < "$tmp/$name") ))
    if [ "$dups" -gt 0 ]; then echo "$prog: $dir/$name: dropped $dups line(s) with a repeated key"; fi
    awk '{print $1}' "$tmp/$name" > "$tmp/$name.keys"
done

# Utterances in every table (with segments: whose recording is in wav.scp).
: > "$tmp/all_utts"
for name in "${utt_tables[@]}"; do
    sort -u "$tmp/all_utts" "$tmp/$name.keys" -o "$tmp/all_utts"
done
if $has_segments; then
    "$utils/filter_scp.pl" -f 2 "$tmp/wav.scp" "$tmp/segments" | awk '{print $1}' > "$tmp/segments.with_reco"
fi
cp "$tmp/all_utts" "$tmp/keep"
for name in "${utt_tables[@]}"; do
    comm -12 "$tmp/keep" "$tmp/$name.keys" > "$tmp/keep.new" && mv "$tmp/keep.new" "$tmp/keep"
    missing=$(comm -23 "$tmp/all_utts" "$tmp/$name.keys" | wc -l)
    if [ "$missing" -gt 0 ]; then echo "$prog: $name lacks $missing of the $(wc -l < "$tmp/all_utts") utterances"; fi
done
if $has_segments; then
    sort -u "$tmp/segments.with_reco" -o "$tmp/segments.with_reco"
    missing=$(comm -23 "$tmp/segments.keys" "$tmp/segments.with_reco" | wc -l)
    if [ "$missing" -gt 0 ]; then echo "$prog: $missing utterance(s) in segments name a recording missing from wav.scp"; fi
    comm -12 "$tmp/keep" "$tmp/segments.with_reco" > "$tmp/keep.new" && mv "$tmp/keep.new" "$tmp/keep"
fi
total=$(wc -l < "$tmp/all_utts")
kept=$(wc -l < "$tmp/keep")
[ "$kept" -gt 0 ] || die "$dir: no utterance is in every table ($total in some); nothing changed"

# Filter every table to the kept utterances (and their recordings and speakers).
for name in "${utt_tables[@]}" "${utt_extra[@]}"; do
    "$utils/filter_scp.pl" "$tmp/keep" "$tmp/$name" > "$tmp/$name.new"
done
if $has_segments; then
    awk '{print $2}' "$tmp/segments.new" | sort -u > "$tmp/recos"
    for name in "${reco_tables[@]}"; do
        "$utils/filter_scp.pl" "$tmp/recos" "$tmp/$name" > "$tmp/$name.new"
    done
    unused=$(( $(wc -l < "$tmp/wav.scp") - $(wc -l < "$tmp/wav.scp.new") ))
    if [ "$unused" -gt 0 ]; then echo "$prog: dropped $unused recording(s) of wav.scp that no kept utterance uses"; fi
fi
if [ -f "$tmp/utt2spk.new" ]; then
    "$utils/utt2spk_to_spk2utt.pl" "$tmp/utt2spk.new" | sort -k1,1 > "$tmp/spk2utt.new"
    for name in "${spk_tables[@]}"; do
        "$utils/filter_scp.pl" "$tmp/spk2utt.new" "$tmp/$name" > "$tmp/$name.new"
    done
fi

# Back up the originals, then replace each table (a rename: never half written).
mkdir -p "$dir/.backup"
for name in "${utt_tables[@]}" "${reco_tables[@]}" "${spk_tables[@]}" "${utt_extra[@]}" spk2utt; do
    if [ -f "$dir/$name" ]; then cp -p "$dir/$name" "$dir/.backup/$name"; fi
done
for new in "$tmp"/*.new; do
    [ -f "$new" ] || continue
    name=$(basename "$new" .new)
    case "$name" in keep) continue ;; esac
    mv "$new" "$dir/$name"
done
removed=$((total - kept))
echo "$prog: kept $kept of $total utterances in $dir (removed $removed); originals in $dir/.backup"
