#!/usr/bin/env bash
# The checks that need a CUDA GPU, on one GPU, in a few minutes (synthetic data, short runs):
#   1 recurrent layers under bf16/fp16 autocast (a bare cuDNN RNN's dtype is reported;
#     mal's RecurrentBlock must stay float32 with finite gradients)
#   2 warm-up + MAL fine-tune with --device cuda and AMP on, bf16 and fp16 (GradScaler)
#   3 mal-enhance --device cuda equals --device cpu (SNR between the outputs >= 40 dB)
#   4 train.deterministic: true with the GE2E deep-feature loss: runs, and two runs agree exactly
#   5 train and enhance throughput on the GPU
#
#   bench/gpu_check.sh [WORK_DIR]     (default: a new temporary directory; kept for inspection)
#
# Exit status: 0 when every check passed, 1 when one failed (each is named in the summary);
# on a machine without a CUDA device it says so and exits 0 without checking anything.
set -uo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f "${ROOT}/tools/activate_python.sh" ]; then
    # shellcheck disable=SC1091
    . "${ROOT}/tools/activate_python.sh"
fi
cd "${ROOT}" || exit 1
PY="python bench/gpu_check.py"

if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA device (torch.cuda.is_available() is False); no check was run"
    exit 0
fi
python -c "import torch; print('gpu_check:', torch.cuda.get_device_name(0), '| torch', torch.__version__, '| CUDA', torch.version.cuda)"

work=${1:-$(mktemp -d /tmp/mal_gpu_check.XXXXXX)}
mkdir -p "${work}/log"
echo "gpu_check: work dir ${work}"
failed=()
passed=()

check() {  # check NAME CMD...: run, log to work/log/NAME.log, show its last lines
    local name=$1; shift
    local t0=${SECONDS}
    if timeout 300 "$@" > "${work}/log/${name}.log" 2>&1; then passed+=("${name}"); status=ok
    else failed+=("${name}"); status=FAILED; fi
    echo "== ${name}: ${status} ($(( SECONDS - t0 )) s, log ${work}/log/${name}.log)"
    { grep -E '^(rnn-dtype|run-ok|same-weights|same-audio|throughput):' "${work}/log/${name}.log" | tail -n 12
      [ "${status}" = ok ] || tail -n 5 "${work}/log/${name}.log"; } | sed 's/^/   /'
}

${PY} data "${work}/data" > /dev/null || { echo "gpu_check: could not write synthetic data"; exit 1; }
data=(--train-dir "${work}/data/train" --valid-dir "${work}/data/valid")

cat > "${work}/warmup.yaml" <<'EOF'
sample_rate: 16000
model:
  name: tfmask
  conf: {n_fft: 512, hop_length: 128, channels: [16, 32, 32], rnn_hidden: 192, causal: false, skips: true}
criterions:
  - {name: l1, weight: 1.0}
  - {name: mrstft, weight: 1.0}
optim: {name: adam, lr: 1.0e-3}
batch: {batch_size: 8, segment_seconds: 2.0, num_workers: 2}
train: {max_epochs: 2, steps_per_epoch: 30, seed: 0, keep_nbest: 1, amp: true}
EOF
cat > "${work}/mal.yaml" <<'EOF'
sample_rate: 16000
criterions:
  - {name: mal, weight: 1.0, conf: {variant: frozen, layers: all, distance: l1}}
  - {name: l1, weight: 1.0}
  - {name: mrstft, weight: 1.0}
optim: {name: adam, lr: 3.0e-4}
batch: {batch_size: 8, segment_seconds: 2.0, num_workers: 2}
train: {max_epochs: 1, max_steps: 30, steps_per_epoch: 30, seed: 1, keep_nbest: 1, amp: true}
EOF
cat > "${work}/ge2e.yaml" <<'EOF'
sample_rate: 16000
model:
  name: tfmask
  conf: {n_fft: 512, hop_length: 128, channels: [16, 32], rnn_hidden: 64}
criterions:
  - {name: deep_feature, weight: 1.0, conf: {network: ge2e}}
  - {name: l1, weight: 1.0}
optim: {name: adam, lr: 1.0e-3}
batch: {batch_size: 4, segment_seconds: 2.0, num_workers: 0}
train: {max_epochs: 1, steps_per_epoch: 8, seed: 0, keep_nbest: 1, amp: false, deterministic: true}
EOF

# 1 recurrent layers under autocast
check rnn_dtype ${PY} rnn-dtype

# 2 warm-up + MAL fine-tune on the GPU, AMP in bf16 and fp16
for dtype in bfloat16 float16; do
    exp="${work}/exp_${dtype}"
    check "warmup_${dtype}" bash -c "mal-train --config '${work}/warmup.yaml' $(printf '%q ' "${data[@]}") --out-dir '${exp}/warmup' \
        --device cuda --override train.amp_dtype=${dtype} && ${PY} run-ok '${exp}/warmup'"
    check "mal_${dtype}" bash -c "mal-train --config '${work}/mal.yaml' $(printf '%q ' "${data[@]}") --out-dir '${exp}/mal' \
        --init '${exp}/warmup/model.pth' --device cuda --override train.amp_dtype=${dtype} && ${PY} run-ok '${exp}/mal'"
done

# 3 enhancement on the GPU equals the CPU's
model="${work}/exp_bfloat16/mal/model.pth"
[ -f "${model}" ] || model="${work}/exp_bfloat16/warmup/model.pth"
check enhance_cuda_vs_cpu bash -c "mal-enhance --model '${model}' --wav-scp '${work}/data/test/wav.scp' --out-dir '${work}/enh_cpu' --device cpu \
    && mal-enhance --model '${model}' --wav-scp '${work}/data/test/wav.scp' --out-dir '${work}/enh_cuda' --device cuda \
    && ${PY} same-audio '${work}/enh_cpu/wav.scp' '${work}/enh_cuda/wav.scp' --min-snr 40"

# 4 deterministic mode with the GE2E loss: no error, and two runs give the same weights
check deterministic_ge2e bash -c "mal-train --config '${work}/ge2e.yaml' $(printf '%q ' "${data[@]}") --out-dir '${work}/det1' --device cuda \
    && mal-train --config '${work}/ge2e.yaml' $(printf '%q ' "${data[@]}") --out-dir '${work}/det2' --device cuda \
    && ${PY} same-weights '${work}/det1/model.pth' '${work}/det2/model.pth'"

# 5 throughput
check throughput ${PY} throughput "${work}/warmup.yaml"

echo "gpu_check: ${#passed[@]} passed (${passed[*]:-none}), ${#failed[@]} failed (${failed[*]:-none})"
[ "${#failed[@]}" -eq 0 ]
