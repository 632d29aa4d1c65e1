"""Gradient diagnostics of criteria: how hard each one pulls on the decoder."""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Tuple

import torch
from torch import nn

from mal.models.abs_model import AbsSEModel


def decoder_gradient_norms(model: AbsSEModel, criteria: Mapping[str, nn.Module],
                           batches: Iterable[Tuple[torch.Tensor, torch.Tensor]], device: str = "cpu") -> Dict[str, List[float]]:
    """Per batch, the L2 norm of each criterion's gradient on the decoder's trainable parameters.

    ``criteria`` maps a label to a combined loss (called as ``loss(enhanced, clean, noisy)``
    returning ``(total, terms)``); the model runs once per batch for all of them.
    """
    decoder = [p for p in model.decoder_parameters() if p.requires_grad]
    norms: Dict[str, List[float]] = {key: [] for key in criteria}
    for noisy, clean in batches:
        noisy, clean = noisy.to(device), clean.to(device)
        enhanced = model(noisy)
        for key, loss in criteria.items():
            total, _ = loss(enhanced, clean, noisy)
            grads = torch.autograd.grad(total, decoder, retain_graph=True, allow_unused=True)
            norms[key].append(float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None))))
    return norms
