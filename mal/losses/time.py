"""Waveform-domain criteria: L1 and negative scale-invariant SDR."""
from __future__ import annotations

from typing import Optional

import torch

from mal.losses.abs_loss import AbsLoss


def check_pair(enhanced: torch.Tensor, clean: torch.Tensor, who: str) -> None:
    """Both inputs must be [B, T] waveforms of the same shape."""
    if enhanced.dim() != 2 or enhanced.shape != clean.shape:
        raise ValueError(
            f"{who}: expected enhanced and clean as [batch, samples] of equal shape, "
            f"got {tuple(enhanced.shape)} and {tuple(clean.shape)}"
        )


class L1Loss(AbsLoss):
    """Mean absolute sample difference between enhanced and clean waveforms."""

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_pair(enhanced, clean, "l1")
        return (enhanced - clean).abs().mean()


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB per row of [B, T] inputs (both made zero-mean first).

    The optimal scale is ``(<est, ref> + eps) / (||ref||^2 + eps)``, so an estimate equal to
    the reference has exactly zero residual and scores ``10 log10(1 + ||ref||^2 / eps)`` dB; a
    silent reference gives a finite value instead of NaN.
    """
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    reference = reference - reference.mean(dim=-1, keepdim=True)
    scale = ((estimate * reference).sum(-1, keepdim=True) + eps) / (reference.pow(2).sum(-1, keepdim=True) + eps)
    target = scale * reference
    residual = estimate - target
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / (residual.pow(2).sum(-1) + eps))


class SISDRLoss(AbsLoss):
    """Negative SI-SDR (dB), averaged over the batch; lower is better.

    Identical inputs give the minimum ``-10 log10(1 + ||s||^2 / eps)`` where ``s`` is the
    zero-mean clean utterance: about -122 dB for one second of unit-variance audio with the
    default ``eps=1e-8`` (the loss is bounded below, never -inf).
    """

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        if eps <= 0:
            raise ValueError(f"sisdr: eps must be > 0, got {eps}")
        self.eps = float(eps)

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_pair(enhanced, clean, "sisdr")
        return -si_sdr(enhanced, clean, self.eps).mean()
