"""Small saved models for the API tests: a TFMaskNet whose weights are all perturbed (not identity)."""
from __future__ import annotations

from pathlib import Path

import torch

from mal.models import build_model
from mal.models.checkpoint import model_record, save_checkpoint


def save_model(path: Path, causal: bool = False, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    conf = {"causal": causal, "channels": [4, 8], "rnn_hidden": 16}
    model = build_model("tfmask", **conf)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {"model": model_record(model, "tfmask", conf)})
    return path
