"""Small models with known behaviour for the enhancement tests (signals: helpers.audio)."""
from __future__ import annotations

from typing import List

import torch
from torch import nn
from torch.nn import functional as F

from mal.models.abs_model import AbsSEModel


class FirModel(AbsSEModel):
    """tanh(FIR(x)): shift-equivariant, receptive field ``taps``, scale-dependent (tanh).

    The FIR is a randomly perturbed Hann window (a low-pass with unit DC gain times ``gain``).
    """

    def __init__(self, taps: int = 31, causal: bool = False, gain: float = 4.0, seed: int = 0):
        super().__init__()
        self._causal = causal
        self.taps = taps
        self.conv = nn.Conv1d(1, 1, taps, bias=False)
        g = torch.Generator().manual_seed(seed)
        w = torch.hann_window(taps + 2, periodic=False)[1:-1] * (1 + 0.5 * torch.randn(taps, generator=g))
        self.conv.weight.data = (gain * w / w.sum()).view(1, 1, taps)

    def encoder_modules(self) -> List[nn.Module]:
        return [self.conv]

    def encode(self, wav: torch.Tensor) -> List[torch.Tensor]:
        left = self.taps - 1 if self.causal else self.taps // 2
        x = F.pad(wav.unsqueeze(1), (left, self.taps - 1 - left))
        return [self.conv(x)]

    def decode(self, features: List[torch.Tensor], noisy: torch.Tensor) -> torch.Tensor:
        return torch.tanh(features[-1]).squeeze(1)

    @property
    def supports_streaming(self) -> bool:
        return self.causal

    def streamer(self) -> "FirStreamer":
        return FirStreamer(self)


class FirStreamer:
    """Streams a causal FirModel: keeps the last ``taps - 1`` input samples as state."""

    def __init__(self, model: FirModel):
        self.model = model
        self.history = torch.zeros(model.taps - 1)

    def feed(self, chunk: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.history, chunk])
        self.history = x[len(x) - (self.model.taps - 1) :]
        y = torch.tanh(self.model.conv(x.view(1, 1, -1)))
        return y.view(-1)

    def flush(self) -> torch.Tensor:
        return torch.zeros(0)


class IdentityModel(AbsSEModel):
    """Returns its input times a learnable scale of 1."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def encoder_modules(self) -> List[nn.Module]:
        return []

    def encode(self, wav: torch.Tensor) -> List[torch.Tensor]:
        return [wav]

    def decode(self, features: List[torch.Tensor], noisy: torch.Tensor) -> torch.Tensor:
        return features[-1] * self.scale
