"""Test signals: a voiced-speech-like harmonic signal and white noise at a given SNR."""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

SR = 16000
Seed = Union[int, np.random.Generator]


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def harmonic(seconds: float, f0: float = 140.0, seed: Seed = 0, sr: int = SR) -> np.ndarray:
    """Harmonics of a gliding f0 under a syllable-rate envelope, peak 0.3, float32."""
    rng = _rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0_track = f0 * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 3) * t))
    phase = 2 * np.pi * np.cumsum(f0_track) / sr
    wav = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 2 * np.pi))) ** 2
    wav = wav * envelope
    return (0.3 * wav / np.max(np.abs(wav))).astype(np.float32)


def add_noise(clean: np.ndarray, snr_db: float, seed: Seed = 0, clip: bool = False) -> np.ndarray:
    """``clean`` plus white noise at ``snr_db`` (float32; ``clip``: into [-1, 1])."""
    noise = _rng(seed).standard_normal(len(clean)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2) / 10 ** (snr_db / 10))
    noisy = clean + noise
    return (np.clip(noisy, -1, 1) if clip else noisy).astype(np.float32)


def add_noise_rows(clean: torch.Tensor, snr_db: float, seed: int = 0) -> torch.Tensor:
    """``add_noise`` on every row of a [B, T] tensor (row ``i`` with seed ``seed + i``)."""
    rows = [add_noise(row.numpy(), snr_db, seed + i) for i, row in enumerate(clean.detach().cpu())]
    return torch.from_numpy(np.stack(rows))
