#!/usr/bin/env bash
# The long CPU preset: the causal TFMaskNet chosen by bench/model_choice.py, trained on a larger corpus
# (6,000 clean utterances, 80 noise clips per kind, 400 rooms in data/full) for 9,000 warm-up
# steps, then MAL and the continued warm-up loss from that warm-up, 150 steps each, with three
# seeds (paired MAL - continued per seed in RESULTS.md), NSNet2 among the peers and the ASR check.
# Run ./run.sh --stop_stage 2 first (it builds the shared valid and test sets).
# Re-running it skips what is finished. Results: RESULTS_full.md (valid is scored too: the shipped model
# is chosen on it).
set -euo pipefail

for set in valid test test_ood test_real; do
    [ -f "data/${set}/.done" ] || { echo "$0: data/${set} not built: run ./run.sh --stop_stage 2 first" >&2; exit 1; }
done

./mal.sh \
    --tag full \
    --local_data_opts "--data_dir data/full --audio_dir downloads/mini_offline_full --sets train --num_train 6000 --num_noise_clips 80 --num_train_rooms 400" \
    --train_set full/train \
    --valid_set valid \
    --test_sets "valid test test_ood test_real test_ambient test_colored" \
    --train_config conf/full/warmup.yaml \
    --mal_config conf/full/mal.yaml \
    --baseline_configs "continued=conf/full/continued.yaml mal_seed2=conf/full/mal_seed2.yaml continued_seed2=conf/full/continued_seed2.yaml mal_seed3=conf/full/mal_seed3.yaml continued_seed3=conf/full/continued_seed3.yaml" \
    --peer_systems "rnnoise nsnet2 dfn3 noisereduce" \
    --score_metrics pesq_wb,stoi,estoi,sisdr \
    --dnsmos_max_utts 25 \
    --score_asr true --asr_max_utts 50 \
    --self_consistency_passes 0 \
    --paired_systems "mal=continued mal_seed2=continued_seed2 mal_seed3=continued_seed3" \
    --results_md RESULTS_full.md \
    "$@"
