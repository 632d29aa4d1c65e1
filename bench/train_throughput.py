#!/usr/bin/env python
"""Training throughput of a recipe config: seconds of audio trained per wall second.

    python bench/train_throughput.py --config egs/mini_offline/conf/warmup.yaml \
        --train-dir egs/mini_offline/data/train [--steps 20] [--variants default,...]

Each variant changes one thing of the config's training pipeline (data source, torch threads,
loader worker processes, batch and segment size) and runs real optimiser steps of the config's
model and criterion on the recipe's training data. Variants run round-robin in rounds of
``--steps-per-round`` steps (after one untimed round), so load from other jobs hits them alike.
Throughput = batch x segment x steps / wall time. Run from the recipe directory or give paths
relative to it with ``--recipe-dir`` (the config's pool paths are relative to it).
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, replace
from typing import Dict, Iterator, List, Optional, Sequence

import torch

from mal.losses import CombinedLoss
from mal.models import build_model
from mal.train.config import load_config
from mal.train.dataset import cycle_epoch_batches, train_loader
from mal.train.dynamic_mixing import make_train_dataset


@dataclass(frozen=True)
class Variant:
    """One training pipeline setting."""

    name: str
    dynamic_mixing: bool = True
    threads: int = 2
    num_workers: int = 0
    batch_size: int = 8
    segment_seconds: float = 2.0


BASE = Variant("base")
VARIANTS: Dict[str, Variant] = {
    "fixed mixtures (before: pre-mixed wav.scp)": replace(BASE, dynamic_mixing=False),
    "dynamic mixing, 2 threads, 0 workers": BASE,
    "dynamic mixing, 1 thread": replace(BASE, threads=1),
    "dynamic mixing, 1 loader worker": replace(BASE, num_workers=1),
    "dynamic mixing, batch 16 x 2 s": replace(BASE, batch_size=16),
    "dynamic mixing, batch 8 x 4 s": replace(BASE, segment_seconds=4.0),
    "dynamic mixing, batch 4 x 2 s": replace(BASE, batch_size=4),
}


class Pipeline:
    """A model, its criterion, an Adam and an endless batch stream for one variant."""

    def __init__(self, variant: Variant, config: dict, train_dir: str):
        self.variant = variant
        mixing = config["dynamic_mixing"] if variant.dynamic_mixing else {"noise_scp": None}
        dataset = make_train_dataset(train_dir, config["sample_rate"], variant.segment_seconds, mixing, seed=0)
        self.loader, self.sampler = train_loader(dataset, variant.batch_size, variant.num_workers)
        self.dataset = dataset
        self.model = build_model(config["model"]["name"], **config["model"]["conf"]).train()
        self.criterion = CombinedLoss(config["criterions"])
        self.criterion.attach(self.model)
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], 1e-4)
        self.batches = self._stream()
        self.audio_seconds = variant.batch_size * variant.segment_seconds

    def _stream(self) -> Iterator:
        epoch = 0
        while True:
            yield from cycle_epoch_batches(self.loader, self.sampler, self.dataset, epoch, None)
            epoch += 1

    def steps(self, count: int) -> float:
        """Wall seconds of ``count`` optimiser steps, batch loading included."""
        torch.set_num_threads(self.variant.threads)
        start = time.perf_counter()
        for _ in range(count):
            noisy, clean = next(self.batches)
            self.optimizer.zero_grad(set_to_none=True)
            total, _ = self.criterion(self.model(noisy), clean, noisy)
            total.backward()
            self.optimizer.step()
        return time.perf_counter() - start


def measure(pipelines: Sequence[Pipeline], rounds: int, steps_per_round: int) -> List[float]:
    """Audio seconds per wall second of each pipeline, interleaved round-robin."""
    for p in pipelines:
        p.steps(1)  # untimed: first-call allocations, worker start-up
    walls = [0.0] * len(pipelines)
    for _ in range(rounds):
        for i, p in enumerate(pipelines):
            walls[i] += p.steps(steps_per_round)
    return [p.audio_seconds * rounds * steps_per_round / w for p, w in zip(pipelines, walls)]


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", required=True, help="a training YAML with a dynamic_mixing section")
    parser.add_argument("--train-dir", required=True, help="the recipe's training data dir")
    parser.add_argument("--recipe-dir", default=".", help="directory the config's relative paths start from")
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds")
    parser.add_argument("--steps-per-round", type=int, default=5, help="steps of one variant in a round")
    parser.add_argument("--variants", default=",".join(str(i) for i in range(len(VARIANTS))),
                        help="comma-separated indices into: " + "; ".join(f"{i} {n}" for i, n in enumerate(VARIANTS)))
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    train_dir = os.path.abspath(args.train_dir)
    config = load_config(os.path.abspath(args.config))
    os.chdir(args.recipe_dir)
    names = list(VARIANTS)
    chosen = [names[int(i)] for i in args.variants.split(",") if i.strip()]
    pipelines = [Pipeline(VARIANTS[n], config, train_dir) for n in chosen]
    rates = measure(pipelines, args.rounds, args.steps_per_round)
    load = os.getloadavg()[0]
    print(f"model {config['model']['name']}, {os.cpu_count()} CPUs, load average {load:.1f} at the end; "
          f"{args.rounds} rounds x {args.steps_per_round} steps per variant")
    print("| pipeline | threads | workers | batch x segment | audio s / wall s | x first row |")
    print("|---|---|---|---|---|---|")
    for name, p, rate in zip(chosen, pipelines, rates):
        v = p.variant
        print(f"| {name} | {v.threads} | {v.num_workers} | {v.batch_size} x {v.segment_seconds:g} s | {rate:.1f} | {rate / rates[0]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
