#!/usr/bin/env bash
# Stage 1 of the recipe: write Kaldi-style data dirs for your corpus. FILL THIS IN.
#
# For each of data/train, data/valid and every test set, write (sorted by key, LC_ALL=C):
#   wav.scp    <utt> <noisy wav path | "cmd |" pipe | ark:offset>
#   spk1.scp   <utt> <clean reference, same length and sample rate as the noisy one>
#   utt2spk    <utt> <speaker>          (utterance keys start with the speaker id)
#   spk2utt    made with utils/utt2spk_to_spk2utt.pl data/x/utt2spk > data/x/spk2utt
#   text       <utt> <transcript>       (optional: only for the downstream ASR check)
# Then stage 2 validates them (utils/validate_data_dir.sh) and writes utt2num_samples.
set -euo pipefail
db_root=            # where your corpus lives
. utils/parse_options.sh

[ -n "${db_root}" ] || { echo "local/data.sh: set --db_root to your corpus (in run.sh: --local_data_opts '--db_root /path')" >&2; exit 1; }
echo "local/data.sh: not written yet for this corpus: see the comments at the top of $0" >&2
exit 1
