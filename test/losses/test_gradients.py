"""mal.losses.gradients.decoder_gradient_norms: each criterion's pull on the decoder."""
from __future__ import annotations

import pytest
import torch

from mal.losses import CombinedLoss
from mal.losses.gradients import decoder_gradient_norms
from mal.models import build_model


def test_norms_per_batch_scale_with_the_weight_and_leave_no_gradients():
    torch.manual_seed(0)
    model = build_model("tiny", channels=4, depth=2)
    batches = [(torch.randn(2, 1600) * 0.1, torch.randn(2, 1600) * 0.1) for _ in range(3)]
    criteria = {"one": CombinedLoss([{"name": "l1", "weight": 1.0}]), "three": CombinedLoss([{"name": "l1", "weight": 3.0}])}
    norms = decoder_gradient_norms(model, criteria, batches)
    assert set(norms) == {"one", "three"} and len(norms["one"]) == 3
    assert all(n > 0 for n in norms["one"])
    assert norms["three"] == pytest.approx([3 * n for n in norms["one"]], rel=1e-4)  # float32 sums
    assert all(p.grad is None for p in model.parameters())  # autograd.grad: nothing accumulated


def test_only_the_decoder_counts():
    torch.manual_seed(0)
    model = build_model("tiny", channels=4, depth=2)
    for p in model.decoder_parameters():
        p.requires_grad_(False)
    with pytest.raises((RuntimeError, TypeError)):  # no decoder parameter left to differentiate
        decoder_gradient_norms(model, {"l1": CombinedLoss([{"name": "l1"}])}, [(torch.randn(1, 800), torch.randn(1, 800))])
