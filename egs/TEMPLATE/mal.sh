#!/usr/bin/env bash
# The mal recipe pipeline, shared by every egs/<corpus>/run.sh (linked there as ./mal.sh).
#
#   1 data preparation (local/data.sh)       5 enhancement of every test set by every system
#   2 validation and utt2num_samples         6 scoring (+ noisy input, + ASR WER/CER) and RESULTS.md / page
#   3 warm-up training                       7 self-consistency check (enhance k times)
#   4 fine-tuning: MAL and the baselines     8 pack the MAL model into one archive
#
# Hyperparameters live in the YAML configs only; this script handles paths and stage control.
set -euo pipefail

log_at() {  # log_at DEPTH MESSAGE: a log line naming the line DEPTH calls up (and its caller inside a function)
    local depth=$1 where="mal.sh:${BASH_LINENO[$1]}"; shift
    [ "${FUNCNAME[$((depth + 1))]:-main}" = main ] || where+=" in ${FUNCNAME[$((depth + 1))]}, called at mal.sh:${BASH_LINENO[$((depth + 1))]}"
    echo "$(date '+%Y-%m-%dT%H:%M:%S') (${where}) $*"
}
log() { log_at 1 "$@"; }
die() { log_at 1 "ERROR: $*" >&2; exit 1; }
# A command that fails outside die (set -e ends the script) names its own line too.
trap 'log_at 0 "ERROR: exit code $? from: ${BASH_COMMAND}" >&2' ERR
# The command line of this run, quoted, for the replay file exp/<tag>/run.sh (parse_options.sh consumes it).
run_command=$(printf '%q' "$0"; printf ' %q' "$@")

# --- options: each line "name=default  # help" becomes a --name flag and a line of --help ---
#<options>
stage=1                 # first stage to run
stop_stage=100          # last stage to run
nj=2                    # parallel jobs for validation, enhancement and scoring
inference_nj=0          # parallel enhancement jobs of stage 5 (0: --nj)
pair_jobs=1             # stages 5-7: (test set, system) pairs processed at once, each split into its own jobs (local CPU jobs at once: pair_jobs x --nj); many small sets: --nj 1 --pair_jobs N
ngpu=0                  # GPUs for training (0: CPU)
inference_ngpu=0        # GPUs for enhancement: one per job, at most N jobs at once (0: CPU, one thread per job)
train_num_threads=0     # torch threads of a CPU training job (0: the machine's cores shared by the jobs running at once)
finetune_jobs=0         # stage 4: fine-tuning systems trained at the same time (0: all of them on CPU, one at a time on GPU)
expdir=exp              # where experiments go: ${expdir}/<tag>/...
tag=                    # experiment tag (default: name of --train_config without .yaml)
local_data_opts=        # options passed to local/data.sh
train_set=train         # training data dir under data/
valid_set=valid         # validation data dir under data/
test_sets="test"        # test sets: names under data/ or paths to data dirs of other recipes
test_max_utts=0         # stages 5-7 use N evenly spaced utterances of each test set (utils/subset_data_dir.sh into exp/<tag>/data; 0: all)
train_config=conf/warmup.yaml        # warm-up training config
mal_config=conf/mal.yaml             # Model-as-Loss fine-tuning config (system "mal")
baseline_configs=                    # more fine-tuning systems: "name=conf.yaml name2=conf2.yaml"
peer_systems="rnnoise noisereduce"   # external enhancers (mal-enhance --peer) enhanced and scored like the trained systems
sample_rate=16000       # sample rate of the data dirs
score_metrics=pesq_wb,pesq_nb,stoi,estoi,sisdr,snr,segsnr,csig,cbak,covl  # reference-based metrics of stage 6 (every utterance)
dnsmos_metrics=dnsmos_sig,dnsmos_bak,dnsmos_ovrl  # non-intrusive metrics of stage 6 (about 1 CPU-s per utterance)
dnsmos_max_utts=0       # score DNSMOS on the first N utterances of each test set only (0: all)
score_asr=false         # stage 6: downstream ASR check, WER/CER of clean, noisy and every system (pocketsphinx: 0.2-1.5 CPU-s per second of audio)
asr_max_utts=0          # ASR-score the first N utterances of each test set only (0: all)
asr_test_sets=          # test sets of the ASR check (default: all --test_sets; those without a text file are skipped)
asr_recognizer=pocketsphinx  # recogniser of the ASR check: a registered name or package.module:Class
num_report_utts=3       # utterances per test set shown with spectrograms on the listening page
results_md=RESULTS.md   # stage 6 writes the results tables here
paired_systems=         # stage 6: paired differences in RESULTS.md, mean +- s.e. over the pairs, e.g. "mal=continued mal_seed2=continued_seed2"
self_consistency_passes=3   # stage 7: how many times the output is fed back through the model (0: skip)
self_consistency_systems="warmup mal"  # stage 7: systems to check
self_consistency_max_utts=0  # stage 7: first N utterances of each test set (0: all)
pack_system=mal         # stage 8: which system to pack
train_args=             # more mal-train --override KEY=VALUE for every trained system, e.g. "optim.lr=1e-4 batch.batch_size=16"
tensorboard=false       # every trained system also logs to exp/<tag>/<system>/tensorboard (mal-train --tensorboard)
inference_args=         # more mal-enhance options for the trained systems (not peers), e.g. "--chunk-seconds 4 --streaming"
#</options>

print_help() {  # every option with the value it has now: mal.sh's default, or what run.sh passed
    echo "Usage: ./run.sh [options]  (or $0 [options])"
    echo "Defaults below are this recipe's: its run.sh's options, else mal.sh's own (shown where they differ)."
    local line name given help
    while IFS= read -r line; do
        [[ "${line}" =~ ^([a-z_]+)=(\"[^\"]*\"|[^ ]*)\ *#\ *(.*)$ ]] || continue
        name=${BASH_REMATCH[1]}; given=${BASH_REMATCH[2]//\"/}; help=${BASH_REMATCH[3]}
        if [ "${!name}" = "${given}" ]; then printf '  --%s (default: "%s")\t%s\n' "${name}" "${!name}" "${help}"
        else printf '  --%s (default: "%s"; mal.sh: "%s")\t%s\n' "${name}" "${!name}" "${given}" "${help}"; fi
    done < <(sed -n '/^#<options>/,/^#<\/options>/p' "${BASH_SOURCE[0]}")
}
# --help is answered after the options before it are parsed, so it shows run.sh's values.
show_help=false; opts=()
for arg in "$@"; do case "${arg}" in --help | -h) show_help=true ;; *) opts+=("${arg}") ;; esac; done
set -- ${opts[@]+"${opts[@]}"}

. ./path.sh
. ./cmd.sh
. utils/parse_options.sh
if ${show_help}; then print_help; exit 0; fi

[ $# -eq 0 ] || die "unexpected arguments: $*  (see --help)"
last_stage=8
while IFS= read -r line; do  # an option whose default is a whole number takes only whole numbers
    [[ "${line}" =~ ^([a-z_]+)=[0-9]+\  ]] || continue
    name=${BASH_REMATCH[1]}
    [[ "${!name}" =~ ^[0-9]+$ ]] || die "--${name} takes a whole number, got '${!name}'"
done < <(sed -n '/^#<options>/,/^#<\/options>/p' "${BASH_SOURCE[0]}")
[ "${stage}" -ge 1 ] && [ "${stage}" -le "${last_stage}" ] || die "--stage ${stage}: no such stage (the stages are 1-${last_stage})"
[ "${stop_stage}" -ge "${stage}" ] || die "--stop_stage ${stop_stage} is before --stage ${stage}: no stage would run"
[ "${stop_stage}" -le "${last_stage}" ] || stop_stage=${last_stage}
if [ "${stage}" -eq 7 ] && [ "${stop_stage}" -eq 7 ] && [ "${self_consistency_passes}" -eq 0 ]; then
    die "--stage 7 --stop_stage 7 with --self_consistency_passes 0: no stage would run"
fi
[ -n "${tag}" ] || tag=$(basename "${train_config}" .yaml)
exp="${expdir}/${tag}"
mkdir -p "${exp}/log"
# The exact command, to re-run or resume this experiment (as ESPnet does); only runs that run a stage write it.
printf '#!/usr/bin/env bash\n# %s\ncd %q || exit 1\n%s\n' "$(date)" "$(pwd)" "${run_command}" > "${exp}/run.sh.tmp"
chmod +x "${exp}/run.sh.tmp"; mv "${exp}/run.sh.tmp" "${exp}/run.sh"

train_opts=()
[ "${ngpu}" -gt 0 ] && train_opts+=(--device cuda) || train_opts+=(--device cpu)
read -ra extra <<< "${train_args}"; [ "${#extra[@]}" -eq 0 ] || train_opts+=(--override "${extra[@]}")
[ "${tensorboard}" = true ] && train_opts+=(--tensorboard)
read -ra inference_opts <<< "${inference_args}"
[ "${inference_nj}" -gt 0 ] || inference_nj=${nj}
[ "${pair_jobs}" -ge 1 ] || die "--pair_jobs must be at least 1, got ${pair_jobs}"
train_prog=(mal-train)  # several GPUs: one data-parallel process each
[ "${ngpu}" -gt 1 ] && train_prog=(torchrun --standalone --nproc_per_node "${ngpu}" -m mal.bin.train)

# "name=conf" pairs of every fine-tuning system.
finetune_systems=("mal=${mal_config}")
for pair in ${baseline_configs}; do finetune_systems+=("${pair}"); done
[ "${finetune_jobs}" -gt 0 ] || { [ "${ngpu}" -gt 0 ] && finetune_jobs=1 || finetune_jobs=${#finetune_systems[@]}; }
[ "${finetune_jobs}" -le "${#finetune_systems[@]}" ] || finetune_jobs=${#finetune_systems[@]}
num_cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # path.sh's OMP_NUM_THREADS=1 would make nproc say 1
threads_per_job() {  # threads_per_job N -> torch threads of one of N CPU training jobs running at once
    if [ "${train_num_threads}" -gt 0 ]; then echo "${train_num_threads}"
    else local t=$(( num_cpus / $1 )); [ "${t}" -ge 1 ] && echo "${t}" || echo 1; fi
}
local_gpus() {  # GPU ids jobs here may use: CUDA_VISIBLE_DEVICES, else nvidia-smi's (none on a login node)
    if [ -n "${CUDA_VISIBLE_DEVICES+x}" ]; then echo "${CUDA_VISIBLE_DEVICES//,/ }"
    else { nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null || true; } | xargs; fi
}
all_systems=(warmup)
for pair in "${finetune_systems[@]}"; do all_systems+=("${pair%%=*}"); done
# shellcheck disable=SC2206
peers=(${peer_systems})
report_order=(noisy "${peers[@]}" warmup "${all_systems[@]:2}" mal clean)  # peers and baselines before MAL; clean: ASR only

data_dir_of() {  # a test set name or path -> its data dir
    case "$1" in */*) echo "$1" ;; *) echo "data/$1" ;; esac
}
test_dir_of() {  # a test set name or path -> the data dir stages 5-7 read (its --test_max_utts subset, made on first use)
    local src sub
    src=$(data_dir_of "$1")
    if [ "${test_max_utts}" -eq 0 ]; then echo "${src}"; return; fi
    sub="${exp}/data/$(set_name_of "$1")"
    if [ ! -f "${sub}/.subset" ] || [ "$(cat "${sub}/.subset")" != "${test_max_utts} ${src}" ] || [ "${src}/wav.scp" -nt "${sub}/wav.scp" ]; then
        rm -rf "${sub}"
        utils/subset_data_dir.sh "${src}" "${test_max_utts}" "${sub}" >&2 || die "could not take ${test_max_utts} utterances of ${src}"
        echo "${test_max_utts} ${src}" > "${sub}/.subset"
    fi
    echo "${sub}"
}
set_name_of() {  # a test set name or path -> a name for output dirs (../x/data/test -> x_data_test)
    case "$1" in */*) echo "$1" | sed -e 's:/*$::' -e 's:^\(\.\{1,2\}/\)*::' -e 's:^/*::' -e 's:/:_:g' ;; *) echo "$1" ;; esac
}

run_jobs() {  # run_jobs CMD NJ LOGDIR NAME -- prog args (JOB in args is substituted)
    local cmd=$1 jobs=$2 logdir=$3 name=$4; shift 5
    ${cmd} JOB=1:"${jobs}" "${logdir}/${name}.JOB.log" "$@" \
        || die "${name}: a job failed; see the logs named above (${logdir}/${name}.*.log)"
}

pair_pids=(); pair_failed=0
start_pair() {  # start_pair FUNCTION ARGS...: run it in the background, at most --pair_jobs at once
    while [ "$(jobs -rp | wc -l)" -ge "${pair_jobs}" ]; do wait -n || pair_failed=1; done
    [ "${pair_failed}" -eq 0 ] || { wait; die "a (test set, system) job failed (its error is above)"; }
    "$@" &
    pair_pids+=($!)
}
wait_pairs() {  # wait_pairs STAGE: wait for every pair start_pair started
    local pid
    for pid in ${pair_pids[@]+"${pair_pids[@]}"}; do wait "${pid}" || pair_failed=1; done
    pair_pids=()
    [ "${pair_failed}" -eq 0 ] || die "$1: a (test set, system) job failed (its error is above)"
}

same_keys() {  # same_keys SCP_A SCP_B: both list the same keys (order aside)
    cmp -s <(cut -d' ' -f1 "$1" | sort) <(cut -d' ' -f1 "$2" | sort)
}

done_stamp_matches() {  # done_stamp_matches STAMP TEXT INPUT...: STAMP holds TEXT and is newer than every INPUT
    [ -f "$1" ] && [ "$(cat "$1")" = "$2" ] || return 1
    local stamp=$1 input; shift 2
    for input in "$@"; do [ "${stamp}" -nt "${input}" ] || return 1; done
}

split_keys() {  # split_keys SCP NJ LOGDIR -> LOGDIR/keys.{1..NJ}.scp; prints the job count
    local scp=$1 jobs=$2 logdir=$3 n
    n=$(wc -l < "${scp}")
    [ "${n}" -gt 0 ] || die "${scp} is empty"
    [ "${jobs}" -le "${n}" ] || jobs=${n}
    mkdir -p "${logdir}"
    local outs=()
    for i in $(seq "${jobs}"); do outs+=("${logdir}/keys.${i}.scp"); done
    utils/split_scp.pl "${scp}" "${outs[@]}"
    echo "${jobs}"
}

train_system() {  # train_system NAME CONFIG [--init ckpt]
    local name=$1 config=$2; shift 2
    local out="${exp}/${name}"
    [ -f "${config}" ] || die "${name}: config ${config} not found"
    if [ -f "${out}/model.pth" ]; then
        log "${name}: ${out}/model.pth exists; skipping (delete it to retrain)"
        return 0
    fi
    local resume=()
    [ -f "${out}/checkpoint.pth" ] && { resume=(--resume); log "${name}: resuming from ${out}/checkpoint.pth"; }
    log "${name}: training with ${config} -> ${out} (log: ${exp}/log/train_${name}.log)"
    local threads=1 prev=  # the job's CPU request (Slurm --cpus-per-task): its --num-threads
    for arg in "$@"; do [ "${prev}" != --num-threads ] || threads=${arg}; prev=${arg}; done
    ${cuda_cmd} --gpu "${ngpu}" --num-threads "${threads}" "${exp}/log/train_${name}.log" \
        "${train_prog[@]}" --config "${config}" --train-dir "data/${train_set}" --valid-dir "data/${valid_set}" \
        --out-dir "${out}" "${train_opts[@]}" "${resume[@]}" "$@" \
        || die "${name}: training failed; see ${exp}/log/train_${name}.log"
}

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: data preparation: local/data.sh ${local_data_opts}"
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts}
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    log "Stage 2: validating data dirs and writing utt2num_samples"
    # train and valid sets are names under data/ (as stage 3 reads them, e.g. full/train), test sets names or paths
    for dir in "data/${train_set}" "data/${valid_set}" $(for dset in ${test_sets}; do data_dir_of "${dset}"; done); do
        [ -d "${dir}" ] || die "data dir ${dir} not found (run stage 1, or check --train_set, --valid_set, --test_sets)"
        [ -f "${dir}/utt2num_samples" ] || mal-compute-lengths "${dir}" --sample-rate "${sample_rate}"
        mal-validate-data-dir "${dir}" --sample-rate "${sample_rate}" \
            || die "${dir} failed validation (problems listed above); fix it, e.g. utils/fix_data_dir.sh ${dir}"
    done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    log "Stage 3: warm-up training"
    train_system warmup "${train_config}" --num-threads "$(threads_per_job 1)"
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    log "Stage 4: fine-tuning from the warm-up: ${finetune_systems[*]}"
    python -m mal.bin.check_same_steps "${finetune_systems[@]}" ${extra[@]+--override "${extra[@]}"} || die "fix the fine-tuning configs"
    [ -f "${exp}/warmup/model.pth" ] || die "no warm-up model ${exp}/warmup/model.pth (run stage 3)"
    # Up to finetune_jobs systems train at once (each a separate job: a CPU core or cluster slot each).
    # Local GPU jobs running at once get their own ${ngpu} of this machine's GPUs each (slot s: GPUs
    # s*ngpu...); a cluster's scheduler gives each job its reserved GPUs itself.
    gpus=(); slots=0
    case "${ngpu}:${cuda_cmd}" in 0:*) ;; *run.pl*) read -ra gpus <<< "$(local_gpus)"; slots=$(( ${#gpus[@]} / ngpu )) ;; esac
    if [ "${slots}" -gt 0 ] && [ "${finetune_jobs}" -gt "${slots}" ]; then
        log "${#gpus[@]} GPU(s), ${ngpu} per job: ${slots} fine-tuning job(s) at a time, not ${finetune_jobs}"; finetune_jobs=${slots}
    fi
    log "training ${finetune_jobs} system(s) at a time, $(threads_per_job "${finetune_jobs}") thread(s) each on CPU"
    pids=(); slot_pids=(); failed=0
    for pair in "${finetune_systems[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "${finetune_jobs}" ]; do wait -n || failed=1; done
        running=" $(jobs -rp | xargs) "; devices=
        for ((s = 0; s < slots; s++)); do
            case "${running}" in *" ${slot_pids[s]:-none} "*) ;; *) devices=$(IFS=,; echo "${gpus[*]:s*ngpu:ngpu}"); break ;; esac
        done
        ( [ -z "${devices}" ] || export CUDA_VISIBLE_DEVICES="${devices}"
          train_system "${pair%%=*}" "${pair#*=}" --init "${exp}/warmup/model.pth" \
            --num-threads "$(threads_per_job "${finetune_jobs}")" ) &
        pids+=($!); [ -z "${devices}" ] || slot_pids[s]=$!
    done
    for pid in "${pids[@]}"; do wait "${pid}" || failed=1; done
    [ "${failed}" -eq 0 ] || die "stage 4: a fine-tuning job failed (its log is named above)"
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    if [ "${inference_ngpu}" -gt 0 ]; then enhance_cmd=(${cuda_cmd} --gpu 1 --max-jobs-run "${inference_ngpu}"); enhance_device=cuda
    else enhance_cmd=(${decode_cmd}); enhance_device=cpu; fi
    log "Stage 5: enhancing ${test_sets} with ${all_systems[*]} ${peers[*]}"
    enhance_pair() {  # enhance_pair DIR NAME SYSTEM: enhance one test set with one system
        local dir=$1 name=$2 system=$3 model system_cmd system_args out logdir enhanced jobs i
        case " ${peer_systems} " in
            *" ${system} "*)  # external enhancer: CPU only
                model=; system_cmd=(${decode_cmd}); system_args=(--peer "${system}") ;;
            *)  model="${exp}/${system}/model.pth"
                [ -f "${model}" ] || die "${system}: no model ${model} (run stages 3-4)"
                system_cmd=("${enhance_cmd[@]}"); system_args=(--model "${model}" --device "${enhance_device}" ${inference_opts[@]+"${inference_opts[@]}"}) ;;
        esac
        out="${exp}/enhanced/${name}/${system}"
        logdir="${out}/logdir"
        # Outputs of an older model are not reused by --skip-existing.
        if [ -n "${model}" ] && [ -d "${logdir}" ] && [ "${model}" -nt "${logdir}" ]; then
            log "${system}: ${model} is newer than its enhanced outputs; enhancing ${name} again"; rm -rf "${logdir}"
        fi
        # Outputs of the same model, input and options are reused (delete ${out}/.enhanced to redo them).
        enhanced="${system_args[*]} wav=${dir}/wav.scp"
        if done_stamp_matches "${out}/.enhanced" "${enhanced}" "${dir}/wav.scp" ${model:+"${model}"} \
            && [ -f "${out}/wav.scp" ] && same_keys "${out}/wav.scp" "${dir}/wav.scp"; then
            log "enhance ${name} with ${system}: done already with this model, input and options; reusing ${out}"
            return 0
        fi
        rm -f "${out}/.enhanced"
        jobs=$(split_keys "${dir}/wav.scp" "${inference_nj}" "${logdir}")
        log "enhance ${name} with ${system} (${jobs} jobs, logs ${logdir}/enhance.*.log)"
        run_jobs "${system_cmd[*]}" "${jobs}" "${logdir}" enhance -- \
            mal-enhance "${system_args[@]}" --wav-scp "${dir}/wav.scp" \
            --key-file "${logdir}/keys.JOB.scp" --out-dir "${logdir}/output.JOB" --skip-existing
        for i in $(seq "${jobs}"); do cat "${logdir}/output.${i}/wav.scp"; done | sort > "${out}/wav.scp.tmp"
        mv "${out}/wav.scp.tmp" "${out}/wav.scp"
        echo "${enhanced}" > "${out}/.enhanced"
    }
    for dset in ${test_sets}; do
        dir=$(test_dir_of "${dset}"); name=$(set_name_of "${dset}")  # the subset is made here, once, before its pairs start
        for system in "${all_systems[@]}" "${peers[@]}"; do
            start_pair enhance_pair "${dir}" "${name}" "${system}"
        done
    done
    wait_pairs "stage 5"
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    log "Stage 6: scoring (${score_metrics}) and report"
    score_pair() {  # score_pair DIR NAME SYSTEM: score one system's outputs on one test set
        local dir=$1 name=$2 system=$3 est out logdir scored jobs keys djobs metric
        if [ "${system}" = noisy ]; then est="${dir}/wav.scp"; else est="${exp}/enhanced/${name}/${system}/wav.scp"; fi
        [ -f "${est}" ] || die "${system}: ${est} not found (run stage 5)"
        out="${exp}/scores/${name}/${system}"
        logdir="${out}/logdir"
        # Scores of the same outputs with the same options are reused (delete ${out}/.scored to redo them).
        scored="metrics=${score_metrics} dnsmos=${dnsmos_metrics} dnsmos_max_utts=${dnsmos_max_utts} est=${est} ref=${dir}/spk1.scp"
        if done_stamp_matches "${out}/.scored" "${scored}" "${est}" "${dir}/spk1.scp"; then
            log "score ${name}/${system}: scored already with these options; reusing ${out}"
            return 0
        fi
        rm -rf "${logdir}" "${out}/.scored"
        jobs=$(split_keys "${est}" "${nj}" "${logdir}")
        log "score ${name}/${system} (${jobs} jobs, logs ${logdir}/score.*.log)"
        run_jobs "${decode_cmd}" "${jobs}" "${logdir}" score -- \
            mal-score --ref-scp "${dir}/spk1.scp" --est-scp "${est}" --key-file "${logdir}/keys.JOB.scp" \
            --out-dir "${logdir}/output.JOB" --metrics "${score_metrics}"
        if [ -n "${dnsmos_metrics}" ]; then
            keys="${est}"
            if [ "${dnsmos_max_utts}" -gt 0 ]; then keys="${logdir}/dnsmos_keys.scp"; head -n "${dnsmos_max_utts}" "${est}" > "${keys}"; fi
            mkdir -p "${logdir}/dnsmos"
            djobs=$(split_keys "${keys}" "${nj}" "${logdir}/dnsmos")
            run_jobs "${decode_cmd}" "${djobs}" "${logdir}" dnsmos -- \
                mal-score --est-scp "${est}" --key-file "${logdir}/dnsmos/keys.JOB.scp" \
                --out-dir "${logdir}/dnsmos/output.JOB" --metrics "${dnsmos_metrics}"
        fi
        # Merge every job's per-metric files (and 'failed') into ${out}/<metric>.
        for metric in $(ls "${logdir}"/output.1 "${logdir}"/dnsmos/output.1 2>/dev/null | grep -v -e ':$' -e '^$' | sort -u); do
            { cat "${logdir}"/output.*/"${metric}" "${logdir}"/dnsmos/output.*/"${metric}" 2>/dev/null || true; } \
                | sort > "${out}/${metric}.tmp"
            mv "${out}/${metric}.tmp" "${out}/${metric}"
        done
        mal-score --summarize "${out}" > /dev/null
        echo "${scored}" > "${out}/.scored"
    }
    for dset in ${test_sets}; do
        dir=$(test_dir_of "${dset}"); name=$(set_name_of "${dset}")
        for system in noisy "${all_systems[@]}" "${peers[@]}"; do
            start_pair score_pair "${dir}" "${name}" "${system}"
        done
    done
    wait_pairs "stage 6"
    for dset in ${test_sets}; do
        dir=$(test_dir_of "${dset}"); name=$(set_name_of "${dset}")
        asr_set=false
        case " ${asr_test_sets:-${test_sets}} " in *" ${dset} "*) asr_set=${score_asr} ;; esac
        if [ "${asr_set}" = true ] && [ ! -f "${dir}/text" ]; then
            log "ASR check: skipping test set ${name}: ${dir}/text not found (no transcripts)"
        elif [ "${asr_set}" = true ]; then
            # Downstream ASR: the clean reference (system "clean"), the noisy input and every system.
            for system in clean noisy "${all_systems[@]}" "${peers[@]}"; do
                case "${system}" in
                    clean) est="${dir}/spk1.scp" ;;
                    noisy) est="${dir}/wav.scp" ;;
                    *) est="${exp}/enhanced/${name}/${system}/wav.scp" ;;
                esac
                [ -f "${est}" ] || die "${system}: ${est} not found (run stage 5)"
                out="${exp}/scores/${name}/${system}"
                logdir="${out}/asr_logdir"
                recognized="recognizer=${asr_recognizer} asr_max_utts=${asr_max_utts} est=${est} text=${dir}/text"
                if done_stamp_matches "${out}/.recognized" "${recognized}" "${est}" "${dir}/text"; then
                    log "ASR check ${name}/${system}: done already with these options; reusing ${out}"
                    continue
                fi
                rm -rf "${logdir}" "${out}/.recognized"; mkdir -p "${logdir}"
                keys="${dir}/wav.scp"  # the same utterances for every system
                if [ "${asr_max_utts}" -gt 0 ]; then keys="${logdir}/asr_keys.scp"; head -n "${asr_max_utts}" "${dir}/wav.scp" > "${keys}"; fi
                jobs=$(split_keys "${keys}" "${nj}" "${logdir}")
                log "ASR check ${name}/${system} (${jobs} jobs, logs ${logdir}/asr.*.log)"
                run_jobs "${decode_cmd}" "${jobs}" "${logdir}" asr -- \
                    mal-asr-score --est-scp "${est}" --text "${dir}/text" --key-file "${logdir}/keys.JOB.scp" \
                    --out-dir "${logdir}/output.JOB" --recognizer "${asr_recognizer}"
                # wer, cer (per utterance, %), wer.counts, cer.counts (set level), hyp.txt, *.trn, asr.failed
                for file in $(ls "${logdir}/output.1"); do
                    cat "${logdir}"/output.*/"${file}" | sort > "${out}/${file}.tmp"
                    mv "${out}/${file}.tmp" "${out}/${file}"
                done
                grep -h "decoding cost" "${logdir}"/asr.*.log | sed "s|^|    ${system} |" || true
                mal-score --summarize "${out}" > /dev/null
                echo "${recognized}" > "${out}/.recognized"
            done
        fi
        # Link the test set's data dir so the report finds the noisy input and the reference.
        mkdir -p "${exp}/report_data"; ln -sfn "$(cd "${dir}" && pwd)" "${exp}/report_data/${name}"
    done
    mal-report --results-md "${results_md}" --scores-root "${exp}/scores" --page-dir "${exp}/report" \
        --data-root "${exp}/report_data" --enhanced-root "${exp}/enhanced" --num-utts "${num_report_utts}" --exp-dir "${exp}" \
        --systems "$(IFS=,; echo "${report_order[*]}")" ${paired_systems:+--paired "${paired_systems}"}
    log "wrote ${results_md} and ${exp}/report/index.html"
fi

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ] && [ "${self_consistency_passes}" -gt 0 ]; then
    log "Stage 7: self-consistency (${self_consistency_passes} passes) of ${self_consistency_systems}"
    self_consistency_pair() {  # self_consistency_pair DIR NAME SYSTEM
        local dir=$1 name=$2 system=$3
        ${train_cmd} "${exp}/log/self_consistency_${name}_${system}.log" \
            mal-self-consistency --model "${exp}/${system}/model.pth" --wav-scp "${dir}/wav.scp" \
            --ref-scp "${dir}/spk1.scp" --passes "${self_consistency_passes}" \
            --max-utterances "${self_consistency_max_utts}" \
            --out-dir "${exp}/self_consistency/${name}/${system}" \
            || die "self-consistency ${name}/${system} failed; see ${exp}/log/self_consistency_${name}_${system}.log"
    }
    for dset in ${test_sets}; do
        dir=$(test_dir_of "${dset}"); name=$(set_name_of "${dset}")
        for system in ${self_consistency_systems}; do
            start_pair self_consistency_pair "${dir}" "${name}" "${system}"
        done
    done
    wait_pairs "stage 7"
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
    log "Stage 8: packing ${pack_system}"
    results=(); [ -f RESULTS.md ] && results=(--results RESULTS.md)
    mal-pack-model --model "${exp}/${pack_system}/model.pth" --config "${exp}/${pack_system}/config.yaml" \
        "${results[@]}" --out "${exp}/packed/${pack_system}.tar.gz"
    log "packed model: ${exp}/packed/${pack_system}.tar.gz (mal-enhance --model accepts it)"
fi

log "Successfully finished stages ${stage}-${stop_stage}"
