"""The Python API: ``model = mal.load(...)``, ``model.enhance(x, rate)``, ``model.stream()``.

``enhance`` takes a numpy array or a torch tensor, ``[time]`` or ``[batch, time]``, float
samples at any rate, and returns the same type, shape, dtype (and device) at that rate. It runs
as mal-enhance does (chunked overlap-add, file level normalised for the model and restored).
``stream()`` processes a causal model's input block by block as it arrives.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np
import soxr
import torch

from mal.bin import DEFAULT_DEVICE
from mal.enhance.inference import EnhanceOptions, Enhancer, check_finite, check_sample_rate
from mal.enhance.streaming import check_streamable
from mal.models.shipped import resolve_model

PathLike = Union[str, os.PathLike]
Signal = Union[np.ndarray, torch.Tensor]


def to_numpy(x: Signal, what: str = "input") -> np.ndarray:
    """float32 numpy view of a float array or tensor (any device); other dtypes are a TypeError."""
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"{what}: expected float samples in [-1, 1], got a {x.dtype} tensor")
        return x.detach().to("cpu", torch.float32).numpy()
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{what}: expected float samples in [-1, 1], got dtype {x.dtype}")
    return x.astype(np.float32, copy=False)


def like(out: np.ndarray, x: Signal) -> Signal:
    """``out`` as the type, dtype and device of ``x``."""
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(out)).to(device=x.device, dtype=x.dtype)
    return np.ascontiguousarray(out, dtype=np.asarray(x).dtype)


class Model:
    """A loaded enhancement model (see :func:`load`)."""

    def __init__(self, enhancer: Enhancer):
        self.enhancer = enhancer

    @property
    def sample_rate(self) -> int:
        """The rate the network runs at; inputs at other rates are resampled to it and back."""
        return self.enhancer.sample_rate

    @property
    def causal(self) -> bool:
        return self.enhancer.model.causal

    @property
    def network(self) -> torch.nn.Module:
        """The underlying torch module (an AbsSEModel)."""
        return self.enhancer.model

    def enhance(self, x: Signal, sample_rate: int) -> Signal:
        """Enhance ``x`` ([time] or [batch, time]) at ``sample_rate``; same type and shape back.

        A rate outside 1 kHz..384 kHz, or a NaN or inf sample, is a ValueError naming it."""
        wav = to_numpy(x)
        if wav.ndim not in (1, 2):
            raise ValueError(f"expected [time] or [batch, time], got shape {tuple(wav.shape)}")
        rate = check_sample_rate(sample_rate)
        check_finite(wav)
        if wav.ndim == 1:
            out = self.enhancer.enhance(wav, rate)
        else:
            rows = [self.enhancer.enhance(np.ascontiguousarray(row), rate) for row in wav]
            out = np.stack(rows) if rows else np.zeros_like(wav)
        return like(out, x)

    def stream(self, sample_rate: Optional[int] = None, gain: float = 1.0) -> "Stream":
        """A block-by-block processor for a causal model (``feed(block)``, then ``flush()``).

        ``sample_rate`` None means the model's rate; others must be 1 kHz..384 kHz."""
        check_streamable(self.enhancer.model)
        rate = self.sample_rate if sample_rate is None else check_sample_rate(sample_rate, "stream sample rate")
        return Stream(self.enhancer, rate, gain)


class Stream:
    """Feed mono blocks of any size as they arrive; each call returns the output that is ready.

    Blocks at another rate than the model's are resampled on the fly (soxr streams), which adds
    the resamplers' delay. The output of all ``feed`` calls plus ``flush()`` has the input's
    length. ``gain`` scales the input before the network and the output back (offline
    enhancement sets it from the whole file; a stream cannot, so set it for your input level).
    """

    def __init__(self, enhancer: Enhancer, sample_rate: int, gain: float = 1.0):
        if not (np.isfinite(gain) and gain > 0):
            raise ValueError(f"stream gain must be a positive number, got {gain!r}")
        self.enhancer, self.rate, self.gain = enhancer, int(sample_rate), float(gain)
        self.streamer = enhancer.model.streamer()
        model_rate = enhancer.sample_rate
        resampled = self.rate != model_rate
        self.down = soxr.ResampleStream(self.rate, model_rate, 1) if resampled else None
        self.up = soxr.ResampleStream(model_rate, self.rate, 1) if resampled else None
        self.to_device = enhancer.device.type != "cpu"
        self.received = self.emitted = 0
        self.template: Signal = np.zeros(0, np.float32)  # the last block: flush() answers in its type

    def _run(self, x: np.ndarray, last: bool) -> np.ndarray:
        if self.down is not None:
            x = self.down.resample_chunk(x, last=last)
        scaled = self.gain != 1.0
        with torch.inference_mode():
            block = torch.from_numpy(np.ascontiguousarray(x * self.gain if scaled else x, dtype=np.float32))
            if self.to_device:
                block = block.to(self.enhancer.device)
            out = self.streamer.feed(block) if len(x) else None
            if last:
                rest = self.streamer.flush()
                out = rest if out is None else torch.cat([out, rest])
        if out is None:
            y = np.zeros(0, np.float32)
        else:
            y = (out.float().cpu() if self.to_device or out.dtype != torch.float32 else out).numpy().reshape(-1)
        if scaled:
            y = y / self.gain
        if self.up is not None:
            y = self.up.resample_chunk(y.astype(np.float32), last=last)
        if last:  # exactly as many samples out as in
            y = np.pad(y, (0, max(0, self.received - self.emitted - len(y))))[: self.received - self.emitted]
        self.emitted += len(y)
        return y if y.dtype == np.float32 else y.astype(np.float32)

    def feed(self, block: Signal) -> Signal:
        """Process ``block`` ([time]); returns the output samples ready so far (possibly none)."""
        x = to_numpy(block, "block")
        if x.ndim != 1:
            raise ValueError(f"stream blocks are mono [time], got shape {tuple(x.shape)}")
        if not np.isfinite(x.sum()):  # cheap; the full check names the sample (or finds only an overflow)
            check_finite(x, f"block at stream sample {self.received}")
        self.received += len(x)
        self.template = block
        y = self._run(x, last=False)
        return y if type(block) is np.ndarray and block.dtype == np.float32 else like(y, block)

    def flush(self) -> Signal:
        """End of input: the remaining output (same type as the blocks)."""
        return like(self._run(np.zeros(0, np.float32), last=True), self.template)


def load(name_or_path: Optional[PathLike] = None, device: str = DEFAULT_DEVICE, **options: Any) -> Model:
    """Load a model: a ``.pth``, a packed archive, a shipped model's name, or (None) the default.

    ``options`` are :class:`mal.enhance.EnhanceOptions` fields, e.g. ``chunk_seconds=4`` or
    ``norm_rms=None``.
    """
    return Model(Enhancer.from_checkpoint(resolve_model(name_or_path), EnhanceOptions(**options), device))
