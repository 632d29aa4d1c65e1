#!/usr/bin/env bash
# Recipe entry point: corpus-specific options only; the stages live in mal.sh (--help lists them).
set -euo pipefail

./mal.sh \
    --train_set train \
    --valid_set valid \
    --test_sets "test" \
    --train_config conf/warmup.yaml \
    --mal_config conf/mal.yaml \
    --baseline_configs "continued=conf/continued.yaml" \
    "$@"
