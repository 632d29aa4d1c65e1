#!/usr/bin/env bash
# Stage 1 of egs/voicebank_demand: data/{train,valid,test} at 16 kHz from VoiceBank+DEMAND.
#
# The corpus (Valentini-Botinhao et al., 2017; Edinburgh DataShare, doi:10.7488/ds/2117) is read
# from --db_root in its official layout: clean_trainset_28spk_wav/ noisy_trainset_28spk_wav/
# clean_testset_wav/ noisy_testset_wav/ trainset_28spk_txt/ testset_txt/ (48 kHz wavs named
# p226_001.wav, transcripts p226_001.txt). With --download true it is first downloaded there.
# The wavs are resampled once with soxr into --dump_dir (PCM-16); files already there are kept.
# valid = the training utterances of --valid_speakers (p226 and p287, the usual choice);
# train = the other 26 speakers; test = the 824 utterances of p232 and p257.
# Per set (sorted, absolute paths): wav.scp (noisy) spk1.scp (clean) utt2spk spk2utt text.
#
# Usage: local/data.sh --db_root <dir> [--download false] [--trainset 28spk]
#        [--valid_speakers p226,p287] [--dump_dir dump] [--data_dir data]
#        [--sample_rate 16000] [--nj 4] [--text true]
set -euo pipefail

db_root=                    # folder with the VoiceBank+DEMAND folders (or where to download them)
download=false              # true: download the official zips into --db_root first (needs internet)
trainset=28spk              # 28spk (the common benchmark) or 56spk
valid_speakers=p226,p287    # comma-separated training speakers held out for validation
dump_dir=dump               # resampled wavs: <dump_dir>/<set>/{noisy,clean}/<utt>.wav
data_dir=data               # Kaldi data dirs: <data_dir>/{train,valid,test}
sample_rate=16000           # output rate
nj=4                        # parallel resampling processes
text=true                   # write text from the transcripts (false: no text, no *_txt folders needed)
help_message=$(sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//')

utils_dir=utils
[ -f "${utils_dir}/parse_options.sh" ] || utils_dir="$(dirname "$0")/../../../utils"
. "${utils_dir}/parse_options.sh"
[ $# -eq 0 ] || { echo "$0: unexpected arguments: $*" >&2; echo "${help_message}" >&2; exit 1; }
[ -n "${db_root}" ] || {
    echo "$0: set --db_root to your VoiceBank+DEMAND copy (in run.sh: --local_data_opts '--db_root /path'), or add --download true" >&2
    exit 1
}

# Run on its own (not from run.sh), it needs mal's Python environment.
python3 -c 'import mal' 2>/dev/null || . "$(dirname "$0")/../path.sh"

if [ "${download}" = true ]; then
    "$(dirname "$0")/download.sh" --trainset "${trainset}" --text "${text}" "${db_root}"
fi

python3 "$(dirname "$0")/prepare_voicebank.py" --db_root "${db_root}" --trainset "${trainset}" \
    --valid_speakers "${valid_speakers}" --dump_dir "${dump_dir}" --data_dir "${data_dir}" \
    --sample_rate "${sample_rate}" --nj "${nj}" --text "${text}"
