#!/usr/bin/env bash
# VoiceBank+DEMAND (Valentini-Botinhao et al., 2017) at 16 kHz: warm-up, MAL fine-tuning (three
# variants) and the continued baseline, scored on the 824-utterance test set. See README.md.
# Corpus-specific options only; the stages live in mal.sh (./run.sh --help lists them).
#   ./run.sh --local_data_opts "--db_root /data/VoiceBank-DEMAND"          # corpus already here
#   ./run.sh --local_data_opts "--db_root /data/VoiceBank-DEMAND --download true"
set -euo pipefail

./mal.sh \
    --ngpu 1 \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --train_config conf/warmup.yaml \
    --mal_config conf/mal.yaml \
    --baseline_configs "continued=conf/continued.yaml mal_frozen_fe=conf/mal_frozen_fe.yaml mal_dynamic=conf/mal_dynamic.yaml" \
    "$@"
