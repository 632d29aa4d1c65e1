"""Mask approximation: the gain the enhanced output applies to the noisy STFT against the ideal one."""
from __future__ import annotations

from typing import Optional

import torch

from mal.losses.abs_loss import AbsLoss
from mal.losses.time import check_pair


class IdealRatioMaskLoss(AbsLoss):
    """``mean((g^p - m^p)^2)`` per STFT bin, with ``g = |E| / |X|`` the gain the enhanced signal
    applies to the noisy one and ``m = min(|S| / |X|, 1)`` the ideal ratio mask (RNNoise's target).

    Every bin counts the same whatever its level, so a mixture at 20 dB SNR weighs as much as one
    at -5 dB and a bin the input barely holds as much as a loud one: the loss asks the model to
    pass clean speech through and to remove noise wherever it dominates. ``power`` (``p``)
    compresses the gains (0.5 as in RNNoise); the STFT (``fft_size``, ``hop_size``, Hann) should
    match the model's. Needs the noisy input.
    """

    def __init__(self, fft_size: int = 512, hop_size: int = 128, power: float = 0.5, max_gain: float = 2.0):
        super().__init__()
        if fft_size <= 0 or not 0 < hop_size <= fft_size:
            raise ValueError(f"irm: need 0 < hop_size <= fft_size, got fft_size={fft_size}, hop_size={hop_size}")
        if not 0 < power <= 2:
            raise ValueError(f"irm: power must be in (0, 2], got {power}")
        if max_gain < 1:
            raise ValueError(f"irm: max_gain must be >= 1, got {max_gain}")
        self.fft_size, self.hop_size, self.power, self.max_gain = int(fft_size), int(hop_size), float(power), float(max_gain)
        self.register_buffer("window", torch.hann_window(self.fft_size), persistent=False)

    def _magnitude(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, self.fft_size, self.hop_size, self.fft_size, self.window, center=True, pad_mode="constant", return_complex=True)
        return (spec.real.pow(2) + spec.imag.pow(2) + 1e-12).sqrt()

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_pair(enhanced, clean, "irm")
        if noisy is None:
            raise ValueError("irm: this criterion needs the noisy input (the trainer passes it)")
        check_pair(noisy, clean, "irm")
        # all three at the mixture's unit RMS; a floor 80 dB below it keeps ratios finite in digital silence
        scale = noisy.detach().pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)
        enhanced, clean, noisy = enhanced / scale, clean.detach() / scale, noisy.detach() / scale
        mixture = self._magnitude(noisy) + 1e-4
        ideal = (self._magnitude(clean) / mixture).clamp(max=1.0)
        gain = (self._magnitude(enhanced) / mixture).clamp(max=self.max_gain)
        return (gain.pow(self.power) - ideal.pow(self.power)).pow(2).mean()
