"""Mixing clean speech and noise the way the DNS Challenge synthesizer does (written for mal).

1. clean and noise are each normalised to ``REFERENCE_DBFS`` (RMS over the clip);
2. the noise is scaled to the drawn SNR and added: ``noisy = clean + noise``;
3. all three are scaled together so the mixture has the drawn target level (dBFS RMS);
4. clipping: when any of them would exceed ``max_peak``, all three are scaled down together,
   so ``noisy == clean + noise`` and the SNR still hold (the level ends up lower; it is reported).

SNR is measured over the whole clip (clean RMS / noise RMS), as in the challenge's ``snr_mixer``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

#: Level both signals are brought to before the SNR scaling (the challenge uses -25 dBFS).
REFERENCE_DBFS = -25.0
#: Largest absolute sample allowed in any written signal (PCM-16 full scale is 1.0).
MAX_PEAK = 0.99
#: Below this RMS level (dBFS) a signal counts as silence: no SNR can be set with it.
SILENCE_DBFS = -90.0
_EPS = 1e-10


class Mixture(NamedTuple):
    noisy: np.ndarray
    clean: np.ndarray
    noise: np.ndarray
    level_dbfs: float  # RMS level of the mixture as written
    clip_gain_db: float  # 0, or the (negative) gain applied to avoid clipping


def rms_dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + _EPS))


def normalize(x: np.ndarray, target_dbfs: float) -> np.ndarray:
    """``x`` scaled to an RMS of ``target_dbfs``."""
    return (x * 10 ** ((target_dbfs - rms_dbfs(x)) / 20)).astype(np.float32)


def snr_db(clean: np.ndarray, noise: np.ndarray) -> float:
    return rms_dbfs(clean) - rms_dbfs(noise)


def mix(clean: np.ndarray, noise: np.ndarray, snr: float, target_dbfs: float, max_peak: float = MAX_PEAK) -> Mixture:
    """Mix equal-length ``clean`` and ``noise`` at ``snr`` dB with the mixture at ``target_dbfs``."""
    if clean.shape != noise.shape:
        raise ValueError(f"mix: clean {clean.shape} and noise {noise.shape} differ in length")
    for name, x in (("clean", clean), ("noise", noise)):
        if rms_dbfs(x) < SILENCE_DBFS:
            raise ValueError(f"mix: {name} is (nearly) digital silence ({rms_dbfs(x):.1f} dBFS); cannot set an SNR")
    clean = normalize(clean, REFERENCE_DBFS)
    noise = normalize(noise, REFERENCE_DBFS - snr)
    noisy = clean + noise
    gain = 10 ** ((target_dbfs - rms_dbfs(noisy)) / 20)
    clean, noise, noisy = clean * gain, noise * gain, noisy * gain
    peak = max(np.abs(noisy).max(), np.abs(clean).max(), np.abs(noise).max())
    clip_gain_db = 0.0
    if peak > max_peak:
        scale = max_peak / peak
        clean, noise, noisy = clean * scale, noise * scale, noisy * scale
        clip_gain_db = float(20 * np.log10(scale))
    f32 = lambda x: x.astype(np.float32)  # noqa: E731
    return Mixture(f32(noisy), f32(clean), f32(noise), rms_dbfs(noisy), clip_gain_db)


def active_fraction(x: np.ndarray, rate: int, frame_seconds: float = 0.05, below_db: float = 20.0) -> float:
    """Share of ``frame_seconds`` frames whose RMS is within ``below_db`` dB of the clip's RMS.

    A simple speech-activity measure for rejecting clips that are mostly silence (the challenge
    rejects clean clips below an activity threshold of 0.6).
    """
    frame = max(1, int(frame_seconds * rate))
    n = len(x) // frame
    if n == 0:
        return 0.0
    frames = np.asarray(x[: n * frame], dtype=np.float64).reshape(n, frame)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + _EPS)
    return float(np.mean(level > rms_dbfs(x) - below_db))


def fit_noise(draw: Callable[[], np.ndarray], length: int, rng: np.random.Generator, gap: int = 0) -> np.ndarray:
    """``length`` samples of noise: clips from ``draw()`` concatenated (``gap`` zeros between them)
    until long enough, then a random crop (the challenge also concatenates short noise clips)."""
    parts, total = [], 0
    while total < length:
        clip = draw()
        parts += [clip, np.zeros(gap, dtype=np.float32)]
        total += len(clip) + gap
    noise = np.concatenate(parts)
    start = int(rng.integers(0, len(noise) - length + 1))
    return noise[start : start + length]
