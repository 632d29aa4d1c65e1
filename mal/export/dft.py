"""A real-valued STFT and its inverse as matrix products and (transposed) convolutions.

ONNX has no complex tensors, so a model's ``torch.stft``/``istft`` cannot be exported as they
are. These give the same numbers as ``torch.stft(center=True, pad_mode="constant")`` and
``torch.istft(center=True)`` (for an even ``n_fft``) with real tensors only.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import nn
from torch.nn import functional as F


class RealDFT(nn.Module):
    """Windowed rfft / irfft of frames as matrix products: [..., n_fft] <-> ([..., bins], [..., bins])."""

    def __init__(self, window: torch.Tensor):
        super().__init__()
        n_fft = window.numel()
        if n_fft % 2:
            raise ValueError(f"RealDFT: n_fft must be even, got {n_fft}")
        bins = n_fft // 2 + 1
        k = torch.arange(bins, dtype=torch.float64)[:, None]
        n = torch.arange(n_fft, dtype=torch.float64)[None, :]
        angle = 2 * math.pi * k * n / n_fft
        win = window.double()[None, :]
        weight = torch.full((bins, 1), 2.0, dtype=torch.float64)  # irfft counts bins 1..N/2-1 twice
        weight[0], weight[-1] = 1.0, 1.0
        self.n_fft = n_fft
        self.register_buffer("fwd_re", (torch.cos(angle) * win).T.float().contiguous())  # [n_fft, bins]
        self.register_buffer("fwd_im", (-torch.sin(angle) * win).T.float().contiguous())
        self.register_buffer("inv_re", (weight * torch.cos(angle) / n_fft * win).float())  # [bins, n_fft]
        self.register_buffer("inv_im", (-weight * torch.sin(angle) / n_fft * win).float())
        self.register_buffer("window_sq", window.float().square())
        self.register_buffer("eye", torch.eye(n_fft).unsqueeze(1))  # [n_fft, 1, n_fft]: one output per sample

    def frame(self, wav: torch.Tensor, hop: int) -> torch.Tensor:
        """[B, T] (already padded) -> raw frames [B, frames, n_fft], ``hop`` apart (a strided convolution)."""
        return F.conv1d(wav.unsqueeze(1), self.eye, stride=hop).transpose(1, 2)

    def overlap_add(self, frames: torch.Tensor, hop: int) -> torch.Tensor:
        """frames [B, frames, n_fft] -> [B, (frames - 1) * hop + n_fft], summed where they overlap."""
        return F.conv_transpose1d(frames.transpose(1, 2), self.eye, stride=hop).squeeze(1)

    def analyse(self, frames: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Raw frames [..., n_fft] -> rfft(frames * window) as (real, imag) [..., bins]."""
        return frames @ self.fwd_re, frames @ self.fwd_im

    def synthesise(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """(real, imag) [..., bins] -> irfft(.) * window: [..., n_fft]."""
        return real @ self.inv_re + imag @ self.inv_im
