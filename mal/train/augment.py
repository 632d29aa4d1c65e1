"""Signal augmentations of dynamic mixing: random EQ, band-limiting, generated stationary noise.

Each function takes its own ``numpy`` generator, so a draw is a pure function of the caller's
seed. Filters come from ``scipy.signal``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy.signal import ellip, lfilter, sosfiltfilt

EQ_COEF = 0.375  # RNNoise draws both zeros and both poles of a biquad from [-3/8, 3/8]


def random_eq(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An RNNoise-style random second-order filter: ``(1 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2)``
    with every coefficient uniform in [-3/8, 3/8] (|a1| + |a2| < 1 keeps it stable)."""
    b1, b2, a1, a2 = rng.uniform(-EQ_COEF, EQ_COEF, 4)
    return lfilter([1.0, b1, b2], [1.0, a1, a2], x).astype(np.float32)


def lowpass(x: np.ndarray, cutoff: float, sample_rate: int) -> np.ndarray:
    """A codec's band edge: an elliptic low-pass (order 8, 0.1 dB ripple, 80 dB stop band) run forward
    and backward, so it is steep and has no delay (input and target stay aligned)."""
    if cutoff >= sample_rate / 2:
        return x
    return sosfiltfilt(_elliptic(float(cutoff), int(sample_rate)), x).astype(np.float32)


@lru_cache(maxsize=16)
def _elliptic(cutoff: float, sample_rate: int) -> np.ndarray:
    return ellip(8, 0.1, 80, cutoff, btype="low", fs=sample_rate, output="sos")


def stationary_noise(n: int, rng: np.random.Generator, sample_rate: int, anchors: int = 10,
                     spread_db: float = 8.0, slope_db_range: Sequence[float] = (-6.0, 2.0),
                     mod_hz_range: Sequence[float] = (0.05, 2.0), max_depth: float = 0.6) -> np.ndarray:
    """Unit-RMS Gaussian noise with a random smooth spectral envelope and slow amplitude modulation.

    The envelope (dB) is a random slope per octave plus values drawn at ``anchors`` log-spaced
    frequencies and interpolated in log frequency; the modulation is ``1 + depth * sin`` at a rate
    drawn from ``mod_hz_range``.
    """
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    octaves = np.log2(np.maximum(freqs, 20.0) / 1000.0)
    knots = np.linspace(octaves.min(), octaves.max(), anchors)
    envelope_db = rng.uniform(*slope_db_range) * octaves + np.interp(octaves, knots, rng.normal(0, spread_db, anchors))
    noise = np.fft.irfft(spectrum * 10 ** (envelope_db / 20), n)
    t = np.arange(n) / sample_rate
    depth = rng.uniform(0, max_depth)
    noise *= 1 + depth * np.sin(2 * np.pi * rng.uniform(*mod_hz_range) * t + rng.uniform(0, 2 * np.pi))
    return (noise / max(float(np.sqrt(np.mean(noise ** 2))), 1e-12)).astype(np.float32)
