"""Stream a signal through a causal model's streamer in fixed-size blocks.

A streamer (``model.streamer()``) keeps recurrent state and overlap-add buffers between calls:
``feed(block: Tensor[T]) -> Tensor`` returns whatever output is ready, ``flush() -> Tensor``
the rest. Concatenated, the outputs equal the offline ``model(wav)``; this module checks the
model can stream, drives the blocks and returns the full output.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from mal.enhance.chunked import DEFAULT_NORM_RMS, EnhanceError, with_file_scale
from mal.models.abs_model import AbsSEModel

#: Default block: 16 ms (256 samples at 16 kHz), a typical real-time audio buffer.
DEFAULT_BLOCK_SECONDS = 0.016


class StreamingError(EnhanceError):
    """The model cannot stream (not causal, or no streamer)."""


def check_streamable(model: AbsSEModel) -> None:
    """Raise StreamingError unless ``model`` is causal and streams (``supports_streaming``)."""
    name = type(model).__name__
    if not model.causal:
        raise StreamingError(
            f"{name} is not causal: streaming needs a model trained with 'causal: true' in its model conf"
        )
    has_streamer = callable(getattr(model, "streamer", None))
    if not has_streamer or not getattr(model, "supports_streaming", has_streamer):
        raise StreamingError(f"{name} is causal but has no streamer(); use offline (chunked) enhancement")


def stream_blocks(model: AbsSEModel, wav: np.ndarray, block_samples: int, device: torch.device) -> np.ndarray:
    """Feed ``wav`` block by block through a fresh streamer; return the flushed full output."""
    if block_samples <= 0:
        raise StreamingError(f"block size must be positive, got {block_samples} samples")
    outputs = []
    with torch.inference_mode():
        streamer = model.streamer()
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)).to(device)
        for start in range(0, len(wav), block_samples):
            outputs.append(streamer.feed(x[start : start + block_samples]))
        outputs.append(streamer.flush())
    out = torch.cat([o.reshape(-1) for o in outputs]).float().cpu().numpy()
    if len(out) < len(wav):
        raise StreamingError(f"{type(model).__name__} streamer returned {len(out)} samples for {len(wav)} input samples")
    return out[: len(wav)]


def enhance_streaming(
    model: AbsSEModel,
    wav: np.ndarray,
    block_seconds: float = DEFAULT_BLOCK_SECONDS,
    norm_rms: Optional[float] = DEFAULT_NORM_RMS,
    device: Optional[torch.device] = None,
) -> np.ndarray:
    """Enhance a 1-D signal (at the model's rate) through the model's streamer.

    The file gain (``norm_rms``) is computed from the whole file, as offline, so ``--streaming``
    and offline output agree; a live system would set that gain ahead of time instead.
    """
    check_streamable(model)
    if wav.ndim != 1:
        raise EnhanceError(f"expected a 1-D signal, got shape {wav.shape}")
    device = device if device is not None else next(model.parameters()).device
    block = max(1, int(round(block_seconds * model.sample_rate)))
    return with_file_scale(lambda x: stream_blocks(model, x, block, device), wav, norm_rms)
