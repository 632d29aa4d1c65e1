#!/usr/bin/env python3
"""Estimate the compute of a training config: FLOPs per step, steps, and GPU hours at given throughputs.

Counts one training step (model forward, every criterion, backward) on CPU with
``torch.utils.flop_counter.FlopCounterMode`` for a ``--probe-seconds`` segment and scales it
to ``batch.segment_seconds x batch.batch_size`` (the networks here cost linearly in length).
FlopCounterMode does not see recurrent layers, so LSTM/GRU FLOPs are added analytically
(2 x gates x hidden x (input + hidden) per frame, direction and layer; the backward pass
counted as twice the forward when the layer's weights train, once when only its input needs
a gradient). Validation, data loading and checkpointing are not counted. The hours are
FLOPs divided by an assumed sustained throughput: an estimate, not a measurement.

    local/estimate_training_cost.py --config conf/warmup.yaml --num-utts 10802
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mal.losses import CombinedLoss
from mal.models import build_model
from mal.train.config import load_config

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def rnn_flops(module: nn.RNNBase, frames: int, batch: int) -> int:
    """Forward FLOPs of one call of a (possibly bidirectional, multi-layer) recurrent layer."""
    gates, hidden = GATES[module.mode.split("_")[0]], module.hidden_size
    dirs = 2 if module.bidirectional else 1
    total, size_in = 0, module.input_size
    for _ in range(module.num_layers):
        total += dirs * 2 * gates * hidden * (size_in + hidden)
        size_in = hidden * dirs
    return total * frames * batch


def count_step(config: dict, probe_seconds: float) -> tuple:
    """(FLOPs of one training step on one ``probe_seconds`` item, parameters of the model)."""
    model = build_model(config["model"]["name"], **(config["model"].get("conf") or {}))
    criterion = CombinedLoss(config["criterions"])
    criterion.attach(model)
    recurrent: List[int] = []

    def hook(module: nn.RNNBase, inputs, output) -> None:
        x = inputs[0]
        batch, frames = (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])
        forward = rnn_flops(module, frames, batch)
        trains = any(p.requires_grad for p in module.parameters())
        backward = 2 * forward if trains else (forward if x.requires_grad else 0)
        recurrent.append(forward + (backward if torch.is_grad_enabled() else 0))

    handles = [m.register_forward_hook(hook) for m in list(model.modules()) + list(criterion.modules()) if isinstance(m, nn.RNNBase)]
    samples = int(probe_seconds * config["sample_rate"])
    generator = torch.Generator().manual_seed(0)
    clean = 0.1 * torch.randn(1, samples, generator=generator)
    noisy = clean + 0.05 * torch.randn(1, samples, generator=generator)
    model.train()
    with FlopCounterMode(display=False) as counter:
        total, _ = criterion(model(noisy), clean, noisy)
        total.backward()
    for handle in handles:
        handle.remove()
    return counter.get_total_flops() + sum(recurrent), sum(p.numel() for p in model.parameters())


def scaled(flops: float) -> str:
    """FLOPs with an SI prefix: ``2.43 TFLOP``."""
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if flops >= scale:
            return f"{flops / scale:.3g} {prefix}FLOP"
    return f"{flops:.3g} FLOP"


def estimate(config: dict, num_utts: Optional[int] = None, probe_seconds: float = 1.0) -> Dict[str, float]:
    """``{"params", "step_flops", "steps", "total_flops"}`` of a loaded training config.

    Steps: ``train.max_steps``, else ``max_epochs x`` (``steps_per_epoch`` or
    ``ceil(num_utts / batch_size)``); ValueError when neither can be worked out.
    """
    batch, train = config["batch"], config["train"]
    if train["max_steps"]:
        steps = train["max_steps"]
    elif train["steps_per_epoch"] or num_utts:
        steps = train["max_epochs"] * (train["steps_per_epoch"] or math.ceil(num_utts / batch["batch_size"]))
    else:
        raise ValueError("give --num-utts (the config sets no train.max_steps or train.steps_per_epoch)")
    per_item, params = count_step(config, probe_seconds)
    per_step = per_item * batch["segment_seconds"] / probe_seconds * batch["batch_size"]
    return {"params": params, "step_flops": per_step, "steps": steps, "total_flops": per_step * steps}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="training YAML")
    parser.add_argument("--num-utts", type=int, help="training utterances (one segment each per epoch); "
                        "needed unless the config sets train.max_steps or train.steps_per_epoch")
    parser.add_argument("--tflops", default="10,40", help="assumed sustained TFLOP/s, comma-separated")
    parser.add_argument("--probe-seconds", type=float, default=1.0, help="length of the counted item")
    return parser


def main(argv: Sequence[str] = None) -> int:
    args = get_parser().parse_args(argv)
    config = load_config(args.config)
    try:
        cost = estimate(config, args.num_utts, args.probe_seconds)
    except ValueError as e:
        print(f"estimate_training_cost.py: {e}", file=sys.stderr)
        return 1
    batch = config["batch"]
    print(f"{args.config}: {config['model']['name']} {cost['params'] / 1e6:.1f} M parameters; one step "
          f"(batch {batch['batch_size']} x {batch['segment_seconds']:g} s) = {scaled(cost['step_flops'])}; "
          f"{cost['steps']} steps = {scaled(cost['total_flops'])}")
    for rate in (float(r) for r in args.tflops.split(",")):
        print(f"  at {rate:g} TFLOP/s sustained: {cost['total_flops'] / (rate * 1e12) / 3600:.2g} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
