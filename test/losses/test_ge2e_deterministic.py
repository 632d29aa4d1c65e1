"""The GE2E mel front end pads without the reflection-pad kernel (no deterministic CUDA backward)."""
from typing import Set

import torch
from torch.nn import functional as F

from mal.losses.pretrained.ge2e import MelSpectrogram, reflect_pad


def _graph_ops(tensor: torch.Tensor) -> Set[str]:
    seen, stack, names = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(n for n, _ in node.next_functions)
    return names


def test_reflect_pad_equals_torch_reflect_padding():
    x = torch.randn(2, 3, 50, dtype=torch.float64)
    torch.testing.assert_close(reflect_pad(x, 7), F.pad(x, (7, 7), mode="reflect"), rtol=0, atol=0)


def test_mel_spectrogram_and_its_gradient_are_unchanged_and_avoid_reflection_pad():
    torch.manual_seed(0)
    mel = MelSpectrogram()
    wav = torch.randn(2, 4000, requires_grad=True)
    out = mel(wav)
    reference_wav = wav.detach().clone().requires_grad_(True)
    spec = torch.stft(reference_wav, mel.n_fft, mel.hop, mel.n_fft, mel.window, center=True, pad_mode="reflect", return_complex=True)
    reference = torch.matmul(mel.filters, spec.abs().square()).transpose(1, 2)
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)
    assert not any("Reflection" in name for name in _graph_ops(out)), _graph_ops(out)
    assert any("Reflection" in name for name in _graph_ops(reference))  # the check can see it
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (reference * weights).sum().backward()
    torch.testing.assert_close(wav.grad, reference_wav.grad, rtol=1e-4, atol=1e-4)
