"""Mix clean speech and noise at a given SNR and level, without clipping."""
from __future__ import annotations

from typing import Tuple

import numpy as np

#: Largest absolute sample allowed in any of clean, noise and mixture (leaves PCM-16 headroom).
MAX_PEAK = 0.95


def power(x: np.ndarray) -> float:
    return float(np.mean(np.asarray(x, dtype=np.float64) ** 2))


def snr_db(clean: np.ndarray, noise: np.ndarray) -> float:
    """10 log10 of the clean-to-noise energy ratio over the whole utterance."""
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
