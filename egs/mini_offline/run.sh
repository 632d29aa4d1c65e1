#!/usr/bin/env bash
# The offline default recipe: synthetic speech + packaged/generated noise, CPU, minutes.
# Stages and options: ./run.sh --help. Hyperparameters: conf/*.yaml.
# To stay within 20 minutes it enhances and scores 50 of each test set's 100 utterances (evenly
# spaced) without DNSMOS; --test_max_utts 0 --dnsmos_metrics dnsmos_sig,dnsmos_bak,dnsmos_ovrl
# scores them all (see README.md for the time per stage). Stages 5-7 process two (test set, system)
# pairs at once, one job each (--nj 1 --pair_jobs 2): the sets are small, so splitting each of them
# in two only doubled the processes started and left a core idle while the slower half finished.
set -euo pipefail

./mal.sh \
    --train_set train \
    --valid_set valid \
    --nj 1 --pair_jobs 2 \
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
