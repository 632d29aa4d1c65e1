"""Criteria that misbehave on purpose, for the trainer's NaN-guard tests (registered per test)."""
from __future__ import annotations

from typing import Optional

import torch

from mal.losses.abs_loss import AbsLoss


class NaNEvery(AbsLoss):
    """L1, except every ``period``-th training call returns NaN (validation calls are normal)."""

    def __init__(self, period: int = 3):
        super().__init__()
        self.period = period
        self.calls = 0

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        loss = (enhanced - clean).abs().mean()
        if self.training:
            self.calls += 1
            if self.calls % self.period == 0:
                return loss * float("nan")
        return loss


class AlwaysNaN(AbsLoss):
    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        return (enhanced - clean).abs().mean() * float("nan")


class NaNGradient(AbsLoss):
    """A finite loss value (L1) whose gradient is NaN: d/dx sqrt(|x - x|) at 0 is inf, times 0."""

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        zero = (enhanced - enhanced.detach()).abs().sqrt().sum() * 0.0
        return (enhanced - clean).abs().mean() + zero
