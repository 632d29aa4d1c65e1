#!/usr/bin/env bash
# DNS Challenge (Interspeech 2020) at 16 kHz: synthesised training mixtures, warm-up, MAL
# fine-tuning (three variants) and the continued baseline, scored on the synthetic test sets
# without and with reverberation. See README.md.
# Corpus-specific options only; the stages live in mal.sh (./run.sh --help lists them).
#   ./run.sh --local_data_opts "--db_root /data/DNS-Challenge"
#   ./run.sh --local_data_opts "--db_root /data/DNS-Challenge --num_train 18000 --reverb_prob 0.2"
set -euo pipefail

./mal.sh \
    --ngpu 1 \
    --train_set train \
    --valid_set valid \
    --test_sets "test_no_reverb test_with_reverb" \
    --train_config conf/warmup.yaml \
    --mal_config conf/mal.yaml \
    --baseline_configs "continued=conf/continued.yaml mal_frozen_fe=conf/mal_frozen_fe.yaml mal_dynamic=conf/mal_dynamic.yaml" \
    "$@"
