"""A tiny skip-free convolutional encoder-decoder, for tests and smoke runs."""
from __future__ import annotations

from typing import List

import torch
from torch import nn
from torch.nn import functional as F

from mal.models.abs_model import AbsSEModel
from mal.models.layers import conv_valid_length


class TinyConvAE(AbsSEModel):
    """Strided Conv1d encoder (``depth`` layers), 1x1 bottleneck, transposed-conv decoder."""

    def __init__(self, channels: int = 8, depth: int = 2, kernel_size: int = 8, stride: int = 4, sample_rate: int = 16000):
        super().__init__()
        self.sample_rate = sample_rate
        self.stride, self.depth, self.kernel_size = stride, depth, kernel_size
        enc, dec = [], []
        ch_in = 1
        for i in range(depth):
            ch_out = channels * (2**i)
            enc.append(nn.Sequential(nn.Conv1d(ch_in, ch_out, kernel_size, stride), nn.ReLU()))
            dec.insert(0, nn.ConvTranspose1d(ch_out, ch_in, kernel_size, stride))
            ch_in = ch_out
        self.encoder = nn.ModuleList(enc)
        self.bottleneck = nn.Sequential(nn.Conv1d(ch_in, ch_in, 1), nn.Tanh())
        self.decoder = nn.ModuleList(dec)

    def valid_length(self, length: int) -> int:
        return conv_valid_length(length, self.depth, self.kernel_size, self.stride)

    def encoder_modules(self) -> List[nn.Module]:
        return [self.encoder, self.bottleneck]

    def encode(self, wav: torch.Tensor) -> List[torch.Tensor]:
        x = F.pad(wav, (0, self.valid_length(wav.shape[-1]) - wav.shape[-1])).unsqueeze(1)
        feats = []
        for layer in self.encoder:
            x = layer(x)
            feats.append(x)
        feats.append(self.bottleneck(x))
        return feats

    def decode(self, features: List[torch.Tensor], noisy: torch.Tensor) -> torch.Tensor:
        x = features[-1]
        for i, layer in enumerate(self.decoder):
            x = layer(x)
            if i < len(self.decoder) - 1:
                x = F.relu(x)
        return x.squeeze(1)[..., : noisy.shape[-1]]
