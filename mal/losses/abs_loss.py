"""The interface of a training criterion."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from mal.models.abs_model import AbsSEModel


class AbsLoss(nn.Module):
    """``forward(enhanced, clean, noisy) -> scalar`` over [B, T] waveforms (mean over the batch).

    A criterion that needs the model (Model as Loss) overrides ``attach``; the trainer calls it
    once, after the model is built and initialised and before the optimiser is created.
    Anything a criterion owns (e.g. a frozen encoder copy) stays out of the model's state_dict.
    """

    def attach(self, model: AbsSEModel) -> None:
        """Bind to the model being trained (no-op for conventional losses)."""

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        raise NotImplementedError
