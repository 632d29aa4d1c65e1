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
``--data-only`` times the data pipeline alone (mixing and batching, no model): examples/s.
``--noise-scp`` swaps the config's noise pool (e.g. the large pool of local/make_noise_pool.py).
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
    noise_cache: bool = True  # noise clips decoded once (False: decoded for every example, as before)
    augment: bool = False  # every dynamic-mixing augmentation on (AUGMENTATIONS)


#: dynamic_mixing keys that switch every augmentation on (the "every augmentation" variant).
AUGMENTATIONS = {"speech_eq_prob": 0.5, "noise_eq_prob": 0.5, "bandlimit_prob": 0.2, "generated_noise_prob": 0.1,
                 "second_noise_prob": 0.3, "short_noise": "concat", "gain_db_range": [-10.0, 10.0]}

BASE = Variant("base")
VARIANTS: Dict[str, Variant] = {
    "fixed mixtures (before: pre-mixed wav.scp)": replace(BASE, dynamic_mixing=False),
    "dynamic mixing, 2 threads, 0 workers": BASE,
    "dynamic mixing, 1 thread": replace(BASE, threads=1),
    "dynamic mixing, 1 loader worker": replace(BASE, num_workers=1),
    "dynamic mixing, batch 16 x 2 s": replace(BASE, batch_size=16),
    "dynamic mixing, batch 8 x 4 s": replace(BASE, segment_seconds=4.0),
    "dynamic mixing, batch 4 x 2 s": replace(BASE, batch_size=4),
    "dynamic mixing, noise decoded per example (before the clip cache)": replace(BASE, noise_cache=False),
    "dynamic mixing, every augmentation on": replace(BASE, augment=True),
}


class Pipeline:
    """A model, its criterion, an Adam and an endless batch stream for one variant."""

    def __init__(self, variant: Variant, config: dict, train_dir: str, data_only: bool = False):
        self.variant = variant
        mixing = {**config["dynamic_mixing"], "noise_cache": variant.noise_cache, **(AUGMENTATIONS if variant.augment else {})}
        mixing = mixing if variant.dynamic_mixing else {"noise_scp": None}
        dataset = make_train_dataset(train_dir, config["sample_rate"], variant.segment_seconds, mixing, seed=0)
        self.loader, self.sampler = train_loader(dataset, variant.batch_size, variant.num_workers)
        self.dataset = dataset
        self.data_only = data_only
        if not data_only:
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
            if self.data_only:
                continue
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
    parser.add_argument("--data-only", action="store_true", help="time the data pipeline alone (no model steps)")
    parser.add_argument("--noise-scp", help="use this noise pool instead of the config's dynamic_mixing.noise_scp")
    parser.add_argument("--variants", default=",".join(str(i) for i in range(len(VARIANTS))),
                        help="comma-separated indices into: " + "; ".join(f"{i} {n}" for i, n in enumerate(VARIANTS)))
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    train_dir = os.path.abspath(args.train_dir)
    config = load_config(os.path.abspath(args.config))
    if args.noise_scp:
        config["dynamic_mixing"]["noise_scp"] = os.path.abspath(args.noise_scp)
    os.chdir(args.recipe_dir)
    names = list(VARIANTS)
    chosen = [names[int(i)] for i in args.variants.split(",") if i.strip()]
    pipelines = [Pipeline(VARIANTS[n], config, train_dir, args.data_only) for n in chosen]
    rates = measure(pipelines, args.rounds, args.steps_per_round)
    load = os.getloadavg()[0]
    what = "data pipeline only" if args.data_only else f"model {config['model']['name']}"
    print(f"{what}, {os.cpu_count()} CPUs, load average {load:.1f} at the end; "
          f"{args.rounds} rounds x {args.steps_per_round} steps per variant")
    print("| pipeline | threads | workers | batch x segment | audio s / wall s | examples / s | x first row |")
    print("|---|---|---|---|---|---|---|")
    for name, p, rate in zip(chosen, pipelines, rates):
        v = p.variant
        print(f"| {name} | {v.threads} | {v.num_workers} | {v.batch_size} x {v.segment_seconds:g} s | {rate:.1f} | "
              f"{rate / v.segment_seconds:.1f} | {rate / rates[0]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
