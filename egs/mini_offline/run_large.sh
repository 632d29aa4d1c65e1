#!/usr/bin/env bash
# The large preset: the causal dual-path CRN (dpcrn) with a real gain mask, trained on the corpus's speech plus
# the large real-speech pool (data/train_large) over the corpus's noise plus the large recorded
# noise and music pool's clips of >= 3 s (data/noise_pool_long), with the dynamic-mixing augmentations of issue 26;
# then MAL and the continued warm-up loss from that warm-up for 20% of its steps. Stage 1 builds
# the usual sets and the pools (local/data.sh --large true: make -C tools noise_pool speech_pool
# first; the first pool build takes minutes, see README.md). Valid is scored too (models are
# chosen on it). Re-running it skips what is finished; an interrupted training resumes.
# Results: RESULTS_large.md.
set -euo pipefail

./mal.sh \
    --tag large \
    --local_data_opts "--large true" \
    --train_set train_large \
    --valid_set valid \
    --test_sets "valid valid_pool test test_ood test_real test_ambient test_colored" \
    --train_config conf/large/warmup.yaml \
    --mal_config conf/large/mal.yaml \
    --baseline_configs "continued=conf/large/continued.yaml" \
    --peer_systems "rnnoise nsnet2 dfn3 noisereduce" \
    --score_metrics pesq_wb,stoi,estoi,sisdr \
    --dnsmos_max_utts 25 \
    --score_asr true --asr_max_utts 50 \
    --self_consistency_passes 0 \
    --paired_systems "mal=continued" \
    --results_md RESULTS_large.md \
    "$@"
