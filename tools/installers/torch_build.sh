#!/usr/bin/env bash
# Print which PyTorch build to install: TORCH_BUILD when it is cpu or cuda, else (auto) cuda when
# nvidia-smi lists a GPU and cpu otherwise.
set -euo pipefail
case "${TORCH_BUILD:-auto}" in
    cpu | cuda) echo "$TORCH_BUILD" ;;
    auto) if nvidia-smi -L >/dev/null 2>&1; then echo cuda; else echo cpu; fi ;;
    *) echo "torch_build.sh: TORCH_BUILD must be auto, cpu or cuda, got '$TORCH_BUILD'" >&2; exit 1 ;;
esac
