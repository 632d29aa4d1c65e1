"""Multi-resolution STFT loss: spectral convergence + L1 of floored log magnitudes."""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch

from mal.losses.abs_loss import AbsLoss
from mal.losses.time import check_pair


def stft_magnitude(wav: torch.Tensor, fft_size: int, hop_size: int, window: torch.Tensor) -> torch.Tensor:
    """[B, T] -> [B, F, frames] magnitude, divided by the window's L2 norm.

    With that scaling a bin of white noise of RMS ``r`` has an expected power of ``r**2`` at
    every resolution, so one floor means the same level for all FFT sizes.
    """
    spec = torch.stft(wav, fft_size, hop_size, window.shape[0], window, center=True, pad_mode="constant", return_complex=True)
    power = spec.real.pow(2) + spec.imag.pow(2)
    # the tiny offset keeps the gradient of sqrt finite in digital silence
    return (power + 1e-20).sqrt() / window.pow(2).sum().sqrt()


class MultiResolutionSTFTLoss(AbsLoss):
    """Mean over resolutions of ``sc_weight * SC + mag_weight * logmag``.

    - SC (spectral convergence) = ``||S - X||_F / ||S||_F`` per utterance (S clean, X enhanced).
    - logmag = ``mean |log(|S| + e) - log(|X| + e)|`` with a floor ``e = log_eps * rms(clean)``
      per utterance. flite (and many corpora) have digital silence, where ``log|S|`` would be
      -inf-like and the silent frames would dominate the loss; the floor caps what a bin far
      below the speech can contribute. It is relative to the clean utterance's RMS, so the
      loss does not change when both signals are scaled together (a bin of white noise at the
      utterance's RMS has magnitude ~1 in these units): the default ``log_eps=1e-2`` puts the
      floor 40 dB below the utterance's average bin level.

    ``hop_sizes`` and ``win_lengths`` default to ``fft // 4`` and ``fft`` per resolution.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512, 1024, 256),
        hop_sizes: Optional[Sequence[int]] = None,
        win_lengths: Optional[Sequence[int]] = None,
        sc_weight: float = 1.0,
        mag_weight: float = 1.0,
        log_eps: float = 1e-2,
    ):
        super().__init__()
        self.fft_sizes: List[int] = [int(n) for n in fft_sizes]
        self.hop_sizes: List[int] = [int(h) for h in hop_sizes] if hop_sizes is not None else [n // 4 for n in self.fft_sizes]
        self.win_lengths: List[int] = [int(w) for w in win_lengths] if win_lengths is not None else list(self.fft_sizes)
        if not self.fft_sizes or not len(self.fft_sizes) == len(self.hop_sizes) == len(self.win_lengths):
            raise ValueError(
                f"mrstft: fft_sizes, hop_sizes and win_lengths need the same non-zero length, got "
                f"{self.fft_sizes}, {self.hop_sizes}, {self.win_lengths}"
            )
        for n, h, w in zip(self.fft_sizes, self.hop_sizes, self.win_lengths):
            if not (0 < h and 0 < w <= n):
                raise ValueError(f"mrstft: need hop > 0 and 0 < win_length <= fft_size, got fft={n} hop={h} win={w}")
        if log_eps <= 0:
            raise ValueError(f"mrstft: log_eps must be > 0, got {log_eps}")
        self.sc_weight, self.mag_weight, self.log_eps = float(sc_weight), float(mag_weight), float(log_eps)
        for i, w in enumerate(self.win_lengths):
            self.register_buffer(f"window{i}", torch.hann_window(w), persistent=False)

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_pair(enhanced, clean, "mrstft")
        floor = (self.log_eps * clean.detach().pow(2).mean(-1).sqrt()).clamp_min(1e-8)[:, None, None]
        total = enhanced.new_zeros(())
        for i, (fft, hop) in enumerate(zip(self.fft_sizes, self.hop_sizes)):
            window = getattr(self, f"window{i}")
            est = stft_magnitude(enhanced, fft, hop, window)
            ref = stft_magnitude(clean, fft, hop, window)
            sc = (ref - est).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1).clamp_min(1e-8)
            logmag = ((ref + floor).log() - (est + floor).log()).abs().mean(dim=(1, 2))
            total = total + (self.sc_weight * sc + self.mag_weight * logmag).mean()
        return total / len(self.fft_sizes)
