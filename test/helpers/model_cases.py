"""Small model configurations and test signals shared by the model tests."""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

import torch

SR = 16000

#: (registry name, YAML-like conf) pairs small enough to run in milliseconds.
SMALL_CONFIGS: List[Tuple[str, Dict]] = [
    ("demucs", {"hidden": 4, "depth": 2, "lstm_layers": 1}),
    ("demucs", {"hidden": 4, "depth": 3, "lstm_layers": 1, "causal": True}),
    ("demucs", {"hidden": 4, "depth": 2, "lstm_layers": 1, "skips": False}),
    ("demucs", {"hidden": 4, "depth": 2, "lstm_layers": 1, "resample": 2, "causal": True}),
    ("tfmask", {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "rnn_hidden": 16}),
    ("tfmask", {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "rnn_hidden": 16, "causal": True, "time_kernel": 2}),
    ("tfmask", {"n_fft": 256, "hop_length": 128, "channels": [4], "rnn_hidden": 16, "skips": False, "rnn_type": "lstm"}),
    ("tfmask", {"channels": [4, 4, 4], "rnn_hidden": 16, "features": ["compressed", "log"], "causal": True}),
    ("bandgru", {"n_fft": 256, "hop_length": 128, "num_bands": 12, "hidden": 16, "rnn_layers": 2, "causal": False}),
    ("bandgru", {"num_bands": 16, "hidden": 16, "rnn_layers": 2, "causal": True}),
    ("dpcrn", {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "hidden": 8, "causal": False}),
    ("dpcrn", {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "hidden": 8, "time_kernel": 2, "mask": "gain", "intra": "mix"}),
    ("dfnet", {"n_fft": 256, "hop_length": 128, "num_bands": 12, "df_bins": 16, "df_order": 3, "channels": 4, "hidden": 8,
               "rnn_layers": 1, "causal": False}),
    ("dfnet", {"num_bands": 16, "df_bins": 32, "df_order": 4, "channels": 4, "hidden": 16}),
    ("tfmask", {"channels": [4, 4], "rnn_hidden": 16, "features": ["compressed", "log_norm"], "causal": True, "log_floor": 1e-4}),
]


#: Slightly larger configurations for the few-step overfit checks.
OVERFIT_CONFIGS: List[Tuple[str, Dict]] = [
    ("demucs", {"hidden": 8, "depth": 2, "lstm_layers": 1}),
    ("demucs", {"hidden": 8, "depth": 3, "lstm_layers": 1, "causal": True}),
    ("tfmask", {"n_fft": 256, "hop_length": 128, "channels": [8, 8], "rnn_hidden": 32}),
    ("tfmask", {"n_fft": 256, "hop_length": 128, "channels": [8, 8], "rnn_hidden": 32, "causal": True}),
    ("bandgru", {"num_bands": 16, "hidden": 32, "rnn_layers": 1}),
    ("dpcrn", {"n_fft": 256, "hop_length": 128, "channels": [8, 8], "hidden": 16}),
    ("dfnet", {"n_fft": 256, "hop_length": 128, "num_bands": 16, "df_bins": 32, "channels": 8, "hidden": 32, "rnn_layers": 1}),
]


def case_id(case: Tuple[str, Dict]) -> str:
    name, conf = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in conf.items())


def speech_like(seconds: float = 1.0, seed: int = 0, f0: float = 140.0) -> torch.Tensor:
    """A voiced, syllable-modulated harmonic signal with a gliding pitch ([T], peak ~0.5)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    pitch = f0 * (1 + 0.1 * torch.sin(2 * math.pi * 1.3 * t))
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / SR
    wav = sum(torch.sin(k * phase + float(torch.rand(1, generator=g)) * 6.28) / k for k in range(1, 12))
    envelope = 0.5 * (1 - torch.cos(2 * math.pi * 3.0 * t)).clamp(min=0) ** 2
    wav = wav * envelope
    return (0.5 * wav / wav.abs().max()).float()


def noisy_pair(seconds: float = 1.0, snr_db: float = 5.0, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) [T] tensors: speech_like plus white noise at ``snr_db``."""
    clean = speech_like(seconds, seed)
    g = torch.Generator().manual_seed(seed + 1)
    noise = torch.randn(clean.shape, generator=g)
    noise = noise * clean.norm() / noise.norm() / (10 ** (snr_db / 20))
    return clean + noise, clean


def randomize_mask_head(model: torch.nn.Module, std: float = 0.2, seed: int = 0) -> None:
    """Give a TFMaskNet's, BandGainGRU's or DeepFilterNet's zero-initialised last layers random
    weights (so the mask is not 1 and the deep filter not the identity)."""
    g = torch.Generator().manual_seed(seed)
    heads = [model.gain_head if hasattr(model, "gain_head") else model.decoder[-1]]
    heads += [model.df_head] if hasattr(model, "df_head") else []
    with torch.no_grad():
        for head in heads:
            for p in head.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * std)


def assert_streams_as_offline(model: torch.nn.Module, x: torch.Tensor, block: int, atol: float = 1e-5) -> None:
    """Feed ``x`` [T] to ``model.streamer()`` in ``block``-sample chunks, flush: the output equals ``model(x)``."""
    with torch.no_grad():
        want = model(x[None])[0]
    streamer = model.streamer()
    got = torch.cat([streamer.feed(x[i : i + block]) for i in range(0, len(x), block)] + [streamer.flush()])
    assert got.shape == x.shape
    torch.testing.assert_close(got, want, atol=atol, rtol=0)
