"""Power-law compressed spectral loss on magnitude and complex STFT (Braun & Tashev, 2021)."""
from __future__ import annotations

from typing import Iterator, List, Optional, Sequence, Tuple

import torch

from mal.losses.abs_loss import AbsLoss
from mal.losses.time import check_pair


class CompressedSpectralLoss(AbsLoss):
    """Mean over resolutions of ``(1 - c) * MSE(|S|^g, |X|^g) + c * MSE(|S|^g e^{i<S}, |X|^g e^{i<X})``.

    ``g`` (``gamma``) compresses the magnitudes, so quiet bins count more than in a plain
    spectral MSE; the complex term (weight ``c`` = ``complex_weight``) also trains the phase.
    Both signals are first divided by the clean utterance's RMS, so the loss does not change
    when they are scaled together. ``hop_sizes`` default to ``fft // 4``; Hann windows of the
    FFT size, scaled to unit L2 norm.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512,),
        hop_sizes: Optional[Sequence[int]] = None,
        gamma: float = 0.3,
        complex_weight: float = 0.3,
    ):
        super().__init__()
        self.fft_sizes: List[int] = [int(n) for n in fft_sizes]
        self.hop_sizes: List[int] = [int(h) for h in hop_sizes] if hop_sizes is not None else [n // 4 for n in self.fft_sizes]
        if not self.fft_sizes or len(self.fft_sizes) != len(self.hop_sizes) or min(self.hop_sizes) <= 0:
            raise ValueError(f"spectral: need as many hop_sizes (> 0) as fft_sizes, got {self.fft_sizes}, {self.hop_sizes}")
        if not 0 < gamma <= 1:
            raise ValueError(f"spectral: gamma must be in (0, 1], got {gamma}")
        if not 0 <= complex_weight <= 1:
            raise ValueError(f"spectral: complex_weight must be in [0, 1], got {complex_weight}")
        self.gamma, self.complex_weight = float(gamma), float(complex_weight)
        for i, n in enumerate(self.fft_sizes):
            window = torch.hann_window(n)
            self.register_buffer(f"window{i}", window / window.pow(2).sum().sqrt(), persistent=False)

    def _compressed(self, wav: torch.Tensor, fft: int, hop: int, window: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(compressed magnitude, compressed complex spectrum), each [B, F, frames]."""
        spec = torch.stft(wav, fft, hop, fft, window, center=True, pad_mode="constant", return_complex=True)
        magnitude = (spec.real.pow(2) + spec.imag.pow(2) + 1e-12).sqrt()  # finite gradient in digital silence
        compressed = magnitude.pow(self.gamma)
        return compressed, spec * (compressed / magnitude)

    def _resolutions(self, enhanced: torch.Tensor, clean: torch.Tensor, name: str) -> Iterator[Tuple[Tuple[torch.Tensor, torch.Tensor], ...]]:
        """Both signals divided by the clean RMS, then per resolution their ``_compressed`` pair."""
        check_pair(enhanced, clean, name)
        scale = clean.detach().pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)
        enhanced, clean = enhanced / scale, clean / scale
        for i, (fft, hop) in enumerate(zip(self.fft_sizes, self.hop_sizes)):
            window = getattr(self, f"window{i}")
            yield self._compressed(enhanced, fft, hop, window), self._compressed(clean, fft, hop, window)

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        total = enhanced.new_zeros(())
        for (est_mag, est), (ref_mag, ref) in self._resolutions(enhanced, clean, "spectral"):
            magnitude = (est_mag - ref_mag).pow(2).mean()
            diff = est - ref
            complex_ = (diff.real.pow(2) + diff.imag.pow(2)).mean()
            total = total + (1 - self.complex_weight) * magnitude + self.complex_weight * complex_
        return total / len(self.fft_sizes)


class OverSuppressionLoss(CompressedSpectralLoss):
    """Mean over resolutions of ``MSE(max(|S|^g - |X|^g, 0))``: only clean energy the estimate
    lacks counts (speech removed), not noise left in. Added to a symmetric loss it moves a model
    uncertain at low SNR towards keeping speech (the trade NSNet2's speech-distortion weighting
    makes). Same scaling and windows as CompressedSpectralLoss; no complex term.
    """

    def __init__(self, fft_sizes: Sequence[int] = (512,), hop_sizes: Optional[Sequence[int]] = None, gamma: float = 0.3):
        super().__init__(fft_sizes, hop_sizes, gamma, complex_weight=0.0)

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        total = enhanced.new_zeros(())
        for (est_mag, _), (ref_mag, _) in self._resolutions(enhanced, clean, "over_suppression"):
            total = total + torch.relu(ref_mag - est_mag).pow(2).mean()
        return total / len(self.fft_sizes)
