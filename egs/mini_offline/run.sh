#!/usr/bin/env bash
# The offline default recipe: synthetic speech + packaged/generated noise, CPU, minutes.
# Stages and options: ./run.sh --help. Hyperparameters: conf/*.yaml.
set -euo pipefail

./mal.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test test_ood test_real test_ambient test_colored" \
    --peer_systems "rnnoise nsnet2 dfn3 noisereduce" \
    --train_config conf/warmup.yaml \
    --mal_config conf/mal.yaml \
    --baseline_configs "continued=conf/continued.yaml deep_feature=conf/deep_feature.yaml" \
    --score_metrics pesq_wb,stoi,estoi,sisdr \
    --dnsmos_max_utts 20 \
    --self_consistency_max_utts 10 \
    "$@"
