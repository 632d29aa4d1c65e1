"""The interface every mal enhancement model implements; Model as Loss relies on it."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator, List

import torch
from torch import nn


class AbsSEModel(nn.Module, ABC):
    """An encoder-decoder enhancer: ``forward(x) == decode(encode(x), x)``.

    ``encode`` returns one feature tensor per encoder layer, the bottleneck last; these are
    what the Model-as-Loss criterion compares. ``decode`` also receives the noisy input, which
    models use for what is not a learned feature (input scale, the noisy STFT to be masked).
    Subclasses list their encoder parameters in ``encoder_modules`` (frozen by ``frozen-fe``).
    """

    sample_rate: int = 16000

    @abstractmethod
    def encode(self, wav: torch.Tensor) -> List[torch.Tensor]:
        """[B, T] waveform -> per-layer encoder features, bottleneck last (each [B, ...])."""

    @abstractmethod
    def decode(self, features: List[torch.Tensor], noisy: torch.Tensor) -> torch.Tensor:
        """Encoder features (of ``noisy``) -> enhanced [B, T] waveform, same length as ``noisy``."""

    @abstractmethod
    def encoder_modules(self) -> List[nn.Module]:
        """The modules whose outputs ``encode`` returns (the feature extractor)."""

    @property
    def causal(self) -> bool:
        return bool(getattr(self, "_causal", False))

    @property
    def supports_streaming(self) -> bool:
        """True when ``streamer()`` works (causal models that implement it)."""
        return False

    def streamer(self):
        """A stateful block processor: ``feed(chunk[T]) -> Tensor``, ``flush() -> Tensor``; their
        concatenated outputs equal ``forward``. Only where ``supports_streaming`` is True."""
        raise NotImplementedError(f"{type(self).__name__} cannot stream; use offline (chunked) enhancement")

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(wav), wav)

    def encoder_parameters(self) -> Iterator[nn.Parameter]:
        for module in self.encoder_modules():
            yield from module.parameters()

    def decoder_parameters(self) -> Iterator[nn.Parameter]:
        enc = {id(p) for p in self.encoder_parameters()}
        return (p for p in self.parameters() if id(p) not in enc)

    def valid_length(self, length: int) -> int:
        """Smallest length >= ``length`` the model processes without padding artefacts."""
        return length
