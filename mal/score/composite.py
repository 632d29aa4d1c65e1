"""Composite quality measures of Hu and Loizou (CSIG, CBAK, COVL) and their parts.

Y. Hu and P. C. Loizou, "Evaluation of objective quality measures for speech enhancement",
IEEE Trans. ASLP 16(1), 2008, and the reference MATLAB code ``composite.m`` of Loizou's book
"Speech Enhancement: Theory and Practice". No maintained PyPI package provides them
(``pysepm`` is not on PyPI; the ``pysepm-evo`` fork's ``composite`` references an undefined
name), so they are written here, vectorised over frames, following ``composite.m``:

- 30 ms Hann frames (``0.5 (1 - cos(2 pi n / (W + 1)))``, n = 1..W), hop W/4 (floored); the last
  full frame is dropped exactly as the MATLAB loop bound does; ``eps`` is added to both signals.
- LLR: order-10 (fs < 10 kHz) or order-16 LPC (Levinson-Durbin); not clipped (composite.m does
  not clip; the stand-alone llr.m clips at 2). Non-finite frames (degenerate LPC) are dropped.
- WSS: Klatt's weighted spectral slope on 25 Gaussian critical-band filters (Kmax 20, Klocmax 1),
  including composite.m's nearest-peak search.
- LLR and WSS average the best 95 % of frames (MATLAB rounding); segSNR averages all frames
  clipped to [-10, 35] dB.
- PESQ: the raw P.862 narrowband score (the value the coefficients were fitted on), recovered
  from the ``pesq`` package's P.862.1 MOS-LQO by inverting its published mapping.

Each composite is clipped to [1, 5]; identical signals reach 5 on all three.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

EPS = float(np.finfo(np.float64).eps)
ALPHA = 0.95  # fraction of best frames kept for LLR and WSS
SEGSNR_RANGE = (-10.0, 35.0)

#: Critical-band centre frequencies and bandwidths (Hz) of Loizou's wss.m.
CENTRE_FREQUENCIES = np.array([
    50.0, 120.0, 190.0, 260.0, 330.0, 400.0, 470.0, 540.0, 617.372, 703.378, 798.717, 904.128,
    1020.38, 1148.30, 1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08, 2446.71, 2701.97,
    2978.04, 3276.17, 3597.63,
])
BANDWIDTHS = np.array([
    70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 77.3724, 86.0056, 95.3398, 105.411, 116.256,
    127.914, 140.423, 153.823, 168.154, 183.457, 199.776, 217.153, 235.631, 255.255, 276.072,
    298.126, 321.465, 346.136,
])


def mos_lqo_to_raw_pesq(mos_lqo: float) -> float:
    """Invert ITU-T P.862.1 (MOS-LQO = 0.999 + 4 / (1 + exp(-1.4945 x + 4.6607))) to raw P.862."""
    return float((4.6607 - np.log(4.0 / (mos_lqo - 0.999) - 1.0)) / 1.4945)


def _frames(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Hann-windowed 30 ms frames with a W/4 hop, as composite.m frames them: [F, W]."""
    win = int(round(0.03 * sample_rate))
    hop = win // 4
    count = (len(signal) - win) // hop
    if count < 1:
        raise ValueError(f"signal of {len(signal)} samples is shorter than two 30 ms frames")
    window = 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(1, win + 1) / (win + 1)))
    return sliding_window_view(signal, win)[: count * hop : hop] * window


def _mean_of_best(values: np.ndarray, alpha: float = ALPHA) -> float:
    """Mean of the lowest ``alpha`` fraction (MATLAB ``round``) of the finite values."""
    values = np.sort(values[np.isfinite(values)])
    if values.size == 0:
        raise ValueError("no frame gave a finite distortion")
    keep = max(1, int(np.floor(len(values) * alpha + 0.5)))
    return float(np.mean(values[:keep]))


def _prepare(reference: np.ndarray, estimate: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    if reference.shape != estimate.shape or reference.ndim != 1:
        raise ValueError(f"signals must be 1-D and equally long, got {reference.shape} and {estimate.shape}")
    return reference.astype(np.float64) + EPS, estimate.astype(np.float64) + EPS


def segmental_snr(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Segmental SNR in dB: per-frame SNR clipped to [-10, 35] dB, averaged over all frames."""
    clean, processed = _prepare(reference, estimate)
    clean_frames = _frames(clean, sample_rate)
    noise_frames = clean_frames - _frames(processed, sample_rate)
    signal_energy = np.sum(clean_frames**2, axis=1)
    noise_energy = np.sum(noise_frames**2, axis=1)
    snr = 10.0 * np.log10(signal_energy / (noise_energy + EPS) + EPS)
    return float(np.mean(np.clip(snr, *SEGSNR_RANGE)))


def _autocorrelation(frames: np.ndarray, order: int) -> np.ndarray:
    """Lags 0..order of each frame: [F, order + 1]."""
    width = frames.shape[1]
    return np.stack([np.sum(frames[:, : width - k] * frames[:, k:], axis=1) for k in range(order + 1)], axis=1)


def _levinson(autocorr: np.ndarray) -> np.ndarray:
    """LPC polynomials [1, -a_1, ..., -a_P] of each row's autocorrelation (Levinson-Durbin)."""
    frames, order = autocorr.shape[0], autocorr.shape[1] - 1
    a = np.zeros((frames, order))
    energy = autocorr[:, 0].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(order):
            past = a[:, :i].copy()
            acc = np.sum(past * autocorr[:, i:0:-1], axis=1) if i else 0.0
            k = (autocorr[:, i + 1] - acc) / energy
            a[:, i] = k
            if i:
                a[:, :i] = past - k[:, None] * past[:, ::-1]
            energy = (1.0 - k * k) * energy
    return np.concatenate([np.ones((frames, 1)), -a], axis=1)


def _quadratic_form(poly: np.ndarray, autocorr: np.ndarray) -> np.ndarray:
    """a^T Toeplitz(R) a for each frame."""
    size = poly.shape[1]
    lags = np.abs(np.arange(size)[:, None] - np.arange(size)[None, :])
    return np.einsum("fi,fij,fj->f", poly, autocorr[:, lags], poly)


def llr_frames(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-frame log-likelihood ratio of the estimate's LPC model against the reference's."""
    clean, processed = _prepare(reference, estimate)
    order = 10 if sample_rate < 10000 else 16
    r_clean = _autocorrelation(_frames(clean, sample_rate), order)
    r_processed = _autocorrelation(_frames(processed, sample_rate), order)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        numerator = _quadratic_form(_levinson(r_processed), r_clean)
        denominator = _quadratic_form(_levinson(r_clean), r_clean)
        return np.log(numerator / denominator)


def _critical_band_filters(sample_rate: int, half_fft: int) -> np.ndarray:
    """Gaussian critical-band filters [25, half_fft], zeroed below their -30 dB points."""
    max_freq = sample_rate / 2.0
    bins = np.arange(half_fft)[None, :]
    centre = np.floor(CENTRE_FREQUENCIES / max_freq * half_fft)[:, None]
    width = (BANDWIDTHS / max_freq * half_fft)[:, None]
    norm = (np.log(BANDWIDTHS[0]) - np.log(BANDWIDTHS))[:, None]
    filters = np.exp(-11.0 * ((bins - centre) / width) ** 2 + norm)
    return filters * (filters > np.exp(-30.0 / (2.0 * 2.303)))


def _nearest_peaks(energy: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """composite.m's peak search: right along rising slopes, left along falling ones."""
    bands = slope.shape[1]
    right = np.empty_like(slope, dtype=int)  # first n >= i with slope <= 0 (bands if none)
    following = np.full(slope.shape[0], bands)
    for i in range(bands - 1, -1, -1):
        following = np.where(slope[:, i] <= 0, i, following)
        right[:, i] = following
    left = np.empty_like(slope, dtype=int)  # last n <= i with slope > 0 (-1 if none)
    previous = np.full(slope.shape[0], -1)
    for i in range(bands):
        previous = np.where(slope[:, i] > 0, i, previous)
        left[:, i] = previous
    index = np.where(slope > 0, right - 1, left + 1)
    return np.take_along_axis(energy, index, axis=1)


def wss_frames(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-frame weighted spectral slope distance (Klatt 1982)."""
    k_max, k_locmax = 20.0, 1.0
    clean, processed = _prepare(reference, estimate)
    win = int(round(0.03 * sample_rate))
    n_fft = int(2 ** np.ceil(np.log2(2 * win)))
    half = n_fft // 2
    filters = _critical_band_filters(sample_rate, half)

    def band_energy_db(signal: np.ndarray) -> np.ndarray:
        spectrum = np.abs(np.fft.rfft(_frames(signal, sample_rate), n_fft, axis=1)[:, :half]) ** 2
        return 10.0 * np.log10(np.maximum(spectrum @ filters.T, 1e-10))

    weights, slopes = [], []
    for energy in (band_energy_db(clean), band_energy_db(processed)):
        slope = np.diff(energy, axis=1)
        peaks = _nearest_peaks(energy, slope)
        w_max = k_max / (k_max + energy.max(axis=1, keepdims=True) - energy[:, :-1])
        w_locmax = k_locmax / (k_locmax + peaks - energy[:, :-1])
        weights.append(w_max * w_locmax)
        slopes.append(slope)
    weight = (weights[0] + weights[1]) / 2.0
    return np.sum(weight * (slopes[0] - slopes[1]) ** 2, axis=1) / np.sum(weight, axis=1)


def composite_from_parts(llr: float, wss: float, segsnr: float, raw_pesq: float) -> Dict[str, float]:
    """Hu and Loizou's regressions, each clipped to [1, 5]."""
    csig = 3.093 - 1.029 * llr + 0.603 * raw_pesq - 0.009 * wss
    cbak = 1.634 + 0.478 * raw_pesq - 0.007 * wss + 0.063 * segsnr
    covl = 1.594 + 0.805 * raw_pesq - 0.512 * llr - 0.007 * wss
    return {name: float(np.clip(value, 1.0, 5.0)) for name, value in (("csig", csig), ("cbak", cbak), ("covl", covl))}


def raw_narrowband_pesq(reference: np.ndarray, estimate: np.ndarray, sample_rate: int) -> float:
    """Raw P.862 score (8 or 16 kHz input; the ``pesq`` package's narrowband mode)."""
    from pesq import pesq

    return mos_lqo_to_raw_pesq(pesq(sample_rate, reference, estimate, "nb"))


def composite(
    reference: np.ndarray, estimate: np.ndarray, sample_rate: int, raw_pesq: float | None = None
) -> Dict[str, float]:
    """CSIG, CBAK and COVL of ``estimate`` against ``reference`` (equal length, 8 or 16 kHz).

    ``raw_pesq`` may pass an already computed raw P.862 score to avoid running PESQ twice.
    Returns ``{"csig", "cbak", "covl", "llr", "wss", "segsnr", "pesq_raw"}``.
    """
    if sample_rate not in (8000, 16000):
        raise ValueError(f"composite measures need 8 or 16 kHz audio, got {sample_rate} Hz")
    llr = _mean_of_best(llr_frames(reference, estimate, sample_rate))
    wss = _mean_of_best(wss_frames(reference, estimate, sample_rate))
    segsnr = segmental_snr(reference, estimate, sample_rate)
    if raw_pesq is None:
        raw_pesq = raw_narrowband_pesq(reference, estimate, sample_rate)
    scores = composite_from_parts(llr, wss, segsnr, raw_pesq)
    scores.update(llr=llr, wss=wss, segsnr=segsnr, pesq_raw=float(raw_pesq))
    return scores
