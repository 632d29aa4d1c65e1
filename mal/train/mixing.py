"""Mix clean speech and noise at a given SNR and level; apply a room impulse response."""
from __future__ import annotations

from typing import Tuple

import numpy as np
from scipy.signal import fftconvolve

#: Largest absolute sample allowed in any of clean, noise and mixture (leaves PCM-16 headroom).
MAX_PEAK = 0.95
#: Below this mean power (about -80 dBFS) a signal counts as silent.
SILENT_POWER = 1e-8


def power(x: np.ndarray) -> float:
    return float(np.mean(np.asarray(x, dtype=np.float64) ** 2))


def snr_db(clean: np.ndarray, noise: np.ndarray) -> float:
    """10 log10 of the clean-to-noise energy ratio over the whole signal."""
    return 10.0 * np.log10(power(clean) / power(noise))


def mix(
    clean: np.ndarray, noise: np.ndarray, snr: float, level_dbfs: float, max_peak: float = MAX_PEAK
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Scale ``clean`` to ``level_dbfs`` RMS and ``noise`` to ``snr`` dB below it; add them.

    When any of the three signals would peak above ``max_peak``, all three get the same gain,
    so ``clean`` stays the exact target of ``noisy = clean + noise``. Returns
    ``(clean, noise, noisy, gain_db)`` where ``gain_db`` <= 0 is that extra gain.
    """
    if clean.shape != noise.shape:
        raise ValueError(f"clean {clean.shape} and noise {noise.shape} differ in shape")
    clean_power, noise_power = power(clean), power(noise)
    if clean_power <= 0 or noise_power <= 0:
        raise ValueError("cannot mix a silent clean or noise signal")
    clean = clean * np.sqrt(10 ** (level_dbfs / 10) / clean_power)
    noise = noise * np.sqrt(power(clean) / (noise_power * 10 ** (snr / 10)))
    noisy = clean + noise
    peak = max(np.abs(clean).max(), np.abs(noise).max(), np.abs(noisy).max())
    gain = min(1.0, max_peak / peak)
    f32 = lambda x: (x * gain).astype(np.float32)  # noqa: E731
    return f32(clean), f32(noise), f32(noisy), 20 * np.log10(gain)


def reverberate(speech: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``speech`` convolved with ``rir``, cut to the input length (the RIR's direct path at index 0
    keeps the reverberant speech aligned with the dry speech)."""
    wet = fftconvolve(np.asarray(speech, dtype=np.float64), np.asarray(rir, dtype=np.float64))[: speech.shape[0]]
    return wet.astype(np.float32)


def align_rir(rir: np.ndarray) -> np.ndarray:
    """An RIR shifted so its strongest tap (the direct path) is the first, scaled to a peak of 1."""
    rir = np.asarray(rir, dtype=np.float32)
    peak = int(np.argmax(np.abs(rir)))
    rir = rir[peak:]
    return rir / max(float(np.abs(rir[0])), 1e-12)
