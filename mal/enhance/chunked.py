"""Enhance a long signal in overlapping chunks, cross-faded so no seams are audible.

Chunk ``k`` covers ``[k * hop, k * hop + chunk)`` with ``hop = chunk - overlap``. In each
overlap the earlier chunk fades out and the later one fades in with complementary
raised-cosine windows (``sin^2 + cos^2 = 1``), so the weights sum to exactly one everywhere.
The last chunk is cut at the end of the signal (it is always longer than the overlap), so no
chunk is padded with invented samples.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, Optional, Tuple

import numpy as np
import torch

from mal.models.abs_model import AbsSEModel

#: Default file level (RMS) the signal is scaled to before the model: 0.05 = -26 dBFS, the
#: middle of the training mixtures' levels (egs/mini_offline mixes clean speech at -33..-23 dBFS;
#: DNS-style corpora use -25 dBFS), so a scale-dependent model (e.g. TFMaskNet's compressed
#: magnitudes) sees inputs about as loud as in training, whatever the file's own level.
DEFAULT_NORM_RMS = 0.05
#: Below this RMS a file counts as silent and is not amplified (no division by ~0).
SILENCE_RMS = 1e-5


class EnhanceError(ValueError):
    """Enhancement that cannot proceed or produced unusable output."""


def file_gain(wav: np.ndarray, target_rms: Optional[float]) -> float:
    """Gain that brings ``wav`` to ``target_rms`` (1.0 when disabled or the file is silent)."""
    if not target_rms:
        return 1.0
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    if rms < SILENCE_RMS:
        return 1.0
    return target_rms / rms


def with_file_scale(
    enhance: Callable[[np.ndarray], np.ndarray], wav: np.ndarray, target_rms: Optional[float]
) -> np.ndarray:
    """Run ``enhance`` on ``wav`` scaled to ``target_rms`` and undo the gain on its output."""
    gain = file_gain(wav, target_rms)
    out = enhance((wav * gain).astype(np.float32))
    return (out / gain).astype(np.float32)


def chunk_spans(length: int, chunk: int, overlap: int) -> Iterator[Tuple[int, int]]:
    """Yield ``(start, end)`` sample spans that cover ``[0, length)`` with the given overlap."""
    if chunk <= 0 or overlap < 0 or 2 * overlap > chunk:
        raise EnhanceError(f"need chunk > 0 and 0 <= overlap <= chunk / 2; got chunk={chunk}, overlap={overlap} samples")
    if length <= chunk:
        yield 0, length
        return
    hop = chunk - overlap
    count = math.ceil((length - overlap) / hop)
    for k in range(count):
        start = k * hop
        yield start, min(start + chunk, length)


def fade_in(overlap: int) -> np.ndarray:
    """Raised-cosine fade-in; ``1 - fade_in`` is the matching fade-out."""
    t = (np.arange(overlap, dtype=np.float64) + 0.5) / overlap
    return (np.sin(0.5 * np.pi * t) ** 2).astype(np.float32)


def run_model(model: AbsSEModel, wav: np.ndarray, device: torch.device) -> np.ndarray:
    """One forward pass of a 1-D signal; output length must equal input length."""
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)).to(device)[None]
        y = model(x)
    if y.dim() != 2 or y.shape[-1] != wav.shape[-1]:
        raise EnhanceError(f"{type(model).__name__} returned shape {tuple(y.shape)} for input [1, {wav.shape[-1]}]")
    return y[0].float().cpu().numpy()


def enhance_chunked(
    model: AbsSEModel,
    wav: np.ndarray,
    chunk_seconds: float = 10.0,
    overlap_seconds: float = 1.0,
    norm_rms: Optional[float] = DEFAULT_NORM_RMS,
    device: Optional[torch.device] = None,
) -> np.ndarray:
    """Enhance a 1-D signal at the model's sample rate in cross-faded chunks.

    The whole file is scaled to ``norm_rms`` first and the output scaled back, so the output
    level follows the input's (``norm_rms=None`` or 0 disables this). A signal no longer than
    one chunk goes through in one pass. ``chunk_seconds <= 0`` also means one pass. An empty
    signal gives an empty output.
    """
    if wav.ndim != 1:
        raise EnhanceError(f"expected a 1-D signal, got shape {wav.shape}")
    if wav.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)  # nothing to enhance (and no model is run on it)
    device = device if device is not None else next(model.parameters()).device
    rate = int(model.sample_rate)
    chunk = int(round(chunk_seconds * rate)) if chunk_seconds and chunk_seconds > 0 else len(wav)
    overlap = int(round(overlap_seconds * rate)) if chunk < len(wav) else 0

    def process(x: np.ndarray) -> np.ndarray:
        spans = list(chunk_spans(len(x), max(chunk, 1), overlap))
        if len(spans) == 1:
            return run_model(model, x, device)
        out = np.zeros(len(x), dtype=np.float32)
        ramp = fade_in(overlap) if overlap else np.zeros(0, dtype=np.float32)
        for k, (start, end) in enumerate(spans):
            piece = run_model(model, x[start:end], device)
            if k > 0 and overlap:
                piece[:overlap] *= ramp
            if k < len(spans) - 1 and overlap:
                piece[-overlap:] *= 1.0 - ramp
            out[start:end] += piece
        return out

    return with_file_scale(process, wav, norm_rms)
