#!/usr/bin/env bash
# Validate a Kaldi-style data dir with mal-validate-data-dir (one line per problem; exit 1 if any).
# Kaldi's --no-wav is accepted as --no-audio; --no-feats/--no-text/--no-spk-sort are ignored.
set -euo pipefail

usage="Usage: $0 [--no-audio | --headers-only] [--sample-rate 16000] <data-dir>
Checks the tables (format, sorted unique keys, keys agreeing across files) and, by default,
every audio entry: the file exists, decodes, is mono, not empty, has no NaN/inf samples, has
--sample-rate when given and is aligned with wav.scp.
  --no-audio       check the tables only: open no audio file (Kaldi's --no-wav is the same)
  --headers-only   read audio headers only: no decoding, pipes are not run"
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-audio|--no-wav) args+=(--no-audio); shift ;;
        --headers-only) args+=(--headers-only); shift ;;
        --sample-rate|--sample_rate)
            [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
            args+=(--sample-rate "$2"); shift 2 ;;
        --sample-rate=*|--sample_rate=*) args+=(--sample-rate "${1#*=}"); shift ;;
        --no-feats|--no-text|--no-spk-sort|--non-print) shift ;;
        -h|--help) echo "$usage"; exit 0 ;;
        -*) echo "$0: unknown option $1" >&2; echo "$usage" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || { echo "$usage" >&2; exit 2; }

if command -v mal-validate-data-dir >/dev/null 2>&1; then
    exec mal-validate-data-dir "$1" "${args[@]}"
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=python3
[ -x "$root/tools/venv/bin/python" ] && python="$root/tools/venv/bin/python"
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m mal.bin.validate_data_dir "$1" "${args[@]}"
