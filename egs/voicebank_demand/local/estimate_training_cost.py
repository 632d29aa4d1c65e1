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
from typing import List, Sequence

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
    batch, train = config["batch"], config["train"]
    per_item, params = count_step(config, args.probe_seconds)
    per_step = per_item * batch["segment_seconds"] / args.probe_seconds * batch["batch_size"]
    if train["max_steps"]:
        steps = train["max_steps"]
    elif train["steps_per_epoch"] or args.num_utts:
        steps = train["max_epochs"] * (train["steps_per_epoch"] or math.ceil(args.num_utts / batch["batch_size"]))
    else:
        print("estimate_training_cost.py: give --num-utts (the config sets no max_steps/steps_per_epoch)", file=sys.stderr)
        return 1
    total = per_step * steps
    print(f"{args.config}: {config['model']['name']} {params / 1e6:.1f} M parameters; one step "
          f"(batch {batch['batch_size']} x {batch['segment_seconds']:g} s) = {per_step / 1e12:.2f} TFLOP; "
          f"{steps} steps = {total / 1e15:.0f} PFLOP")
    for rate in (float(r) for r in args.tflops.split(",")):
        print(f"  at {rate:g} TFLOP/s sustained: {total / (rate * 1e12) / 3600:.1f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
