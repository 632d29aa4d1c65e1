"""The ``equal`` conventional weight: the decoder gradient-norm ratio of the MAL and the
conventional terms at the warm-up point, cached in ``OUT/grad_ratio.yaml``."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Sequence

import numpy as np
import torch
import yaml

from bench.ablation.configs import SweepError, is_mal, read_yaml
from bench.ablation.sweep import Branch
from mal.io.atomic import atomic_open
from mal.losses import CombinedLoss
from mal.losses.gradients import decoder_gradient_norms
from mal.models.pretrained import load_model
from mal.train.dataset import SegmentDataset, cycle_epoch_batches, train_loader

if TYPE_CHECKING:
    from bench.ablation.runner import Context

logger = logging.getLogger("mal.bench.ablation")


def gradient_norms(model_path: Path, criterions: Sequence[Mapping[str, Any]], train_dir: Path, sample_rate: int,
                   segment_seconds: float, batch_size: int, batches: int, seed: int, device: str = "cpu") -> Dict[str, Any]:
    """Decoder gradient norms of the MAL terms and of the weighted conventional terms, per batch.

    Returns ``{"mal": [...], "conventional": [...], "ratio": mean(mal) / mean(conventional)}``:
    multiplying the conventional weights by ``ratio`` makes the two norms equal on average.
    """
    mal_specs = [dict(c) for c in criterions if is_mal(c)]
    conv_specs = [dict(c) for c in criterions if not is_mal(c) and c.get("name") != "deep_feature"]
    if not mal_specs or not conv_specs:
        raise SweepError("--grad-ratio needs both a MAL criterion and a conventional one in the config")
    model, _ = load_model(model_path, device=device)
    model.train()
    mal_loss, conv_loss = CombinedLoss(mal_specs), CombinedLoss(conv_specs)
    mal_loss.attach(model)
    mal_loss.to(device)
    conv_loss.to(device)
    torch.manual_seed(seed)
    dataset = SegmentDataset(train_dir, sample_rate, segment_seconds, seed=seed)
    loader, sampler = train_loader(dataset, batch_size)
    norms = decoder_gradient_norms(model, {"mal": mal_loss, "conventional": conv_loss},
                                   cycle_epoch_batches(loader, sampler, dataset, 1, batches), device)
    ratio = float(np.mean(norms["mal"]) / max(np.mean(norms["conventional"]), 1e-12))
    if not math.isfinite(ratio) or ratio <= 0:
        raise SweepError(f"{model_path}: the MAL gradient on the decoder is {np.mean(norms['mal']):.3g} at this point "
                         "(dead encoder features?); an equalising weight is undefined")
    return {**norms, "ratio": ratio}


def grad_ratio_applies(branch: Branch) -> bool:
    """A MAL term and a conventional term with a non-zero weight, from a warm-up that exists."""
    crits = branch.config.get("criterions") or []
    conventional = [c for c in crits if not is_mal(c) and c.get("name") != "deep_feature" and float(c.get("weight", 1.0)) > 0]
    return any(is_mal(c) for c in crits) and bool(conventional) and branch.init.is_file() and bool(branch.config.get("model", {}).get("name"))


def grad_ratio_key(init: Path, criterions: Sequence[Mapping[str, Any]]) -> str:
    text = json.dumps({"init": str(init), "criterions": list(criterions)}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def equalising_factor(branch: Branch, ctx: "Context") -> float:
    """Cached in OUT/grad_ratio.yaml per (init, criterions); computed on first use."""
    crits = branch.config["criterions"]
    key = grad_ratio_key(branch.init, crits)
    path = ctx.out / "grad_ratio.yaml"
    table = (read_yaml(path) or {}) if path.is_file() else {}
    if key not in table:
        started = time.time()
        result = gradient_norms(branch.init, crits, ctx.data / ctx.args.train_set, branch.config["sample_rate"],
                                branch.config["batch"]["segment_seconds"], branch.config["batch"]["batch_size"],
                                ctx.args.grad_batches, ctx.sweep.seed, ctx.args.device)
        table = (read_yaml(path) or {}) if path.is_file() else {}
        table[key] = {
            "branch": branch.name, "init": str(branch.init), "criterions": crits, "batches": ctx.args.grad_batches,
            "mal_decoder_grad_norm": [round(v, 6) for v in result["mal"]],
            "conventional_decoder_grad_norm": [round(v, 6) for v in result["conventional"]],
            "conventional_over_mal": round(1.0 / result["ratio"], 4) if result["ratio"] > 0 else None,
            "equalising_conventional_weight": result["ratio"], "seconds": round(time.time() - started, 1),
        }
        with atomic_open(path, "w") as f:
            yaml.safe_dump(table, f, sort_keys=False)
    entry = table[key]
    logger.info("gradient norms on the decoder at %s: MAL %.4g, conventional %.4g (mean of %d batches): "
                "conventional/MAL = %.1f; equalising conventional weight factor %.4g",
                branch.init, np.mean(entry["mal_decoder_grad_norm"]), np.mean(entry["conventional_decoder_grad_norm"]),
                entry["batches"], entry["conventional_over_mal"] or float("nan"), entry["equalising_conventional_weight"])
    return float(entry["equalising_conventional_weight"])
