#!/usr/bin/env bash
# The offline default recipe: synthetic speech + packaged/generated noise, CPU, minutes.
# Stages and options: ./run.sh --help. Hyperparameters: conf/*.yaml.
# To stay within 20 minutes it enhances and scores 50 of each test set's 100 utterances (evenly
# spaced) without DNSMOS; --test_max_utts 0 --dnsmos_metrics dnsmos_sig,dnsmos_bak,dnsmos_ovrl
# scores them all (see README.md for the time per stage).
set -euo pipefail

./mal.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test test_ood test_real test_ambient test_colored" \
    --test_max_utts 50 \
    --peer_systems "rnnoise nsnet2 dfn3 noisereduce" \
    --train_config conf/warmup.yaml \
    --mal_config conf/mal.yaml \
    --baseline_configs "continued=conf/continued.yaml deep_feature=conf/deep_feature.yaml" \
    --score_metrics pesq_wb,stoi,estoi,sisdr \
    --dnsmos_metrics "" \
    --self_consistency_max_utts 10 \
    "$@"
