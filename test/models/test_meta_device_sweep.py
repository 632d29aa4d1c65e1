"""Every registered model x criterion runs forward and backward on the meta device.

A tensor made inside forward without the input's device (a window, a constant, a mask) meets a
meta tensor and raises, as it would meet a CUDA tensor on a GPU: this finds device-placement
bugs on a CPU-only machine, at no compute cost. The model goes to the device before the
criterion attaches to it, as in the trainer.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import pytest
import torch

from torch.nn import functional as F

from helpers.model_cases import SMALL_CONFIGS, case_id
from mal.losses import LOSS_REGISTRY, CombinedLoss
from mal.models import MODEL_REGISTRY, build_model

MODELS: List[Tuple[str, Dict]] = [SMALL_CONFIGS[0], SMALL_CONFIGS[1], SMALL_CONFIGS[4], SMALL_CONFIGS[5], ("tiny", {"channels": 4, "depth": 2}),
                                  SMALL_CONFIGS[9], SMALL_CONFIGS[11], SMALL_CONFIGS[13]]
CRITERIA: List[Dict] = [
    {"name": "l1"},
    {"name": "sisdr"},
    {"name": "mrstft"},
    {"name": "spectral"},
    {"name": "over_suppression"},
    {"name": "irm"},
    {"name": "mal", "conf": {"variant": "frozen"}},
    {"name": "mal", "conf": {"variant": "frozen-fe"}},
    {"name": "mal", "conf": {"variant": "dynamic"}},
    {"name": "deep_feature", "conf": {"network": "ge2e"}},
]


def overlap_add_istft(spec: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor, center: bool = True,
                      length: int = 0) -> torch.Tensor:
    """torch.istft's arithmetic without its data-dependent window check (which meta cannot run)."""
    if window.device != spec.device:
        raise RuntimeError(f"istft: window on {window.device}, input on {spec.device}")
    frames = torch.fft.irfft(spec, n=n_fft, dim=-2) * window[:, None]  # [B, n_fft, frames]
    size = n_fft + hop_length * (frames.shape[-1] - 1)
    wav = F.fold(frames, (1, size), (1, n_fft), stride=(1, hop_length)).reshape(frames.shape[0], size)
    envelope = F.fold(window.square()[None, :, None].expand(1, n_fft, frames.shape[-1]), (1, size), (1, n_fft), stride=(1, hop_length))
    wav = wav / envelope.reshape(1, size).clamp_min(1e-11)
    start = n_fft // 2 if center else 0
    return F.pad(wav[:, start : start + length], (0, max(0, length - (size - start))))


def test_overlap_add_istft_equals_torch_istft():
    torch.manual_seed(0)
    wav, window = torch.randn(2, 1000), torch.hann_window(256)
    spec = torch.stft(wav, 256, 128, window=window, center=True, return_complex=True)
    expected = torch.istft(spec, 256, 128, window=window, center=True, length=1000)
    torch.testing.assert_close(overlap_add_istft(spec, 256, 128, window=window, center=True, length=1000), expected)


def test_the_sweep_covers_every_registered_name():
    assert {name for name, _ in MODELS} == set(MODEL_REGISTRY)
    assert {spec["name"] for spec in CRITERIA} == set(LOSS_REGISTRY)


@pytest.mark.parametrize("criterion", CRITERIA, ids=lambda s: "-".join([s["name"], *map(str, (s.get("conf") or {}).values())]))
@pytest.mark.parametrize("case", MODELS, ids=case_id)
def test_forward_and_backward_on_meta(case, criterion, monkeypatch):
    name, conf = case
    monkeypatch.setattr(torch, "istft", overlap_add_istft)
    torch.manual_seed(0)
    model = build_model(name, **conf).to("meta")
    loss_fn = CombinedLoss([criterion] if criterion["name"] == "l1" else [criterion, {"name": "l1"}])
    loss_fn.attach(model)
    loss_fn.to("meta")
    noisy = torch.empty(2, 512, device="meta")
    clean = torch.empty(2, 512, device="meta")
    enhanced = model(noisy)
    assert enhanced.device.type == "meta" and enhanced.shape == noisy.shape
    loss, terms = loss_fn(enhanced.float(), clean, noisy)
    assert loss.device.type == "meta" and loss.dim() == 0
    assert all(t.device.type == "meta" for t in terms.values())
    loss.backward()
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None and p.grad.device.type == "meta" for p in trained)
