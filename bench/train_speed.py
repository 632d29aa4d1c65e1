#!/usr/bin/env python
"""Training throughput of a warm-up step, MAL steps and deep-feature-loss steps, side by side.

    python bench/train_speed.py pipeline --config CONF --train-dir DIR ...   # see train_throughput.py
    python bench/train_speed.py [--models demucs,tfmask] [--threads 1] [--batch-size 4]
                                [--seconds 1.0] [--steps 5] [--no-wavlm] [--device cpu]

For each model (default configuration) one optimiser step (forward, criterion, backward,
Adam) is timed for each criterion:

- warm-up: l1 + mrstft (the conventional losses MAL starts from);
- mal frozen / frozen-fe / dynamic (``--mal-layers``, default the bottleneck);
- deep-feature ge2e (resemblyzer's shipped weights) and wavlm-base (a default ``WavLMConfig``
  with random weights: the cost is that of the real network, the weights do not matter).

Steps are interleaved round-robin (one step of each criterion per round, ``--steps`` rounds
after one untimed round) and the median is reported, so load from other jobs on a shared CPU
hits every criterion alike. Throughput = seconds of audio per second of training.

The theoretical floor of a MAL step over a warm-up step: MAL adds two encoder passes (clean
and enhanced) and one backward through the encoder, and drops the l1 + mrstft criterion, so ``floor = 1 + (t_enc_fwd + t_enc_fwd_bwd -
t_warmup_criterion) / t_warmup``, with every time measured on the same batch: the backward computes input gradients only for the frozen copy
(frozen variants) and also parameter gradients for the live encoder (dynamic). frozen-fe can
come in under its floor: its model's own encoder needs no backward. Targets: every MAL step <= 1.7x the warm-up step and >= 5x
cheaper than the WavLM-base step.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

from mal.losses import CombinedLoss
from mal.models import build_model

MAL_TARGET = 1.7  # a MAL step at most this many warm-up steps
WAVLM_TARGET = 5.0  # a WavLM-base step at least this many MAL steps
MAL_VARIANTS = ("frozen", "frozen-fe", "dynamic")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="demucs,tfmask", help="comma-separated registry names (default configs)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0, help="segment length in seconds")
    parser.add_argument("--steps", type=int, default=5, help="timed rounds (one step of each criterion per round)")
    parser.add_argument("--mal-layers", default="-1", help="'all' or comma-separated encoder layer indices")
    parser.add_argument("--no-wavlm", action="store_true", help="skip the (slow) WavLM-base step")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    return parser


def criterion_specs(mal_layers, with_wavlm: bool) -> Dict[str, Callable[[], list]]:
    """label -> a function building the criterion specs (called once per model)."""
    specs: Dict[str, Callable[[], list]] = {"warm-up l1+mrstft": lambda: [{"name": "l1"}, {"name": "mrstft"}]}
    for variant in MAL_VARIANTS:
        specs[f"mal {variant}"] = lambda v=variant: [{"name": "mal", "conf": {"variant": v, "layers": mal_layers}}]
    specs["mal frozen, concatenated pass"] = lambda: [
        {"name": "mal", "conf": {"variant": "frozen", "layers": mal_layers, "concat_passes": True}}
    ]
    specs["deep-feature ge2e"] = lambda: [{"name": "deep_feature", "conf": {"network": "ge2e"}}]
    if with_wavlm:
        specs["deep-feature wavlm-base"] = lambda: [{"name": "deep_feature", "conf": {"network": random_wavlm_base()}}]
    return specs


def random_wavlm_base() -> torch.nn.Module:
    from transformers import WavLMConfig, WavLMModel

    from mal.losses.pretrained.ssl import SSLFeatures

    return SSLFeatures(WavLMModel(WavLMConfig()).eval())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


class Setup:
    """A model copy, its criterion (attached) and an Adam over the trainable parameters."""

    def __init__(self, model: torch.nn.Module, specs: list, device: torch.device):
        self.model = copy.deepcopy(model).to(device).train()
        self.criterion = CombinedLoss(specs).to(device)
        self.criterion.attach(self.model)
        self.criterion.train()
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], 1e-4)

    def step(self, noisy: torch.Tensor, clean: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        total, _ = self.criterion(self.model(noisy), clean, noisy)
        total.backward()
        self.optimizer.step()


def encoder_times(model: torch.nn.Module, noisy: torch.Tensor, device: torch.device, rounds: int) -> Dict[str, float]:
    """Median times of ``model.encode`` on the batch: forward without grad (``fwd``), forward +
    backward to the input with frozen parameters (``fwd_bwd_input``) and with parameter
    gradients too (``fwd_bwd_params``); and the warm-up criterion's forward + backward
    (``warm_criterion``)."""
    live = copy.deepcopy(model).to(device).train()
    frozen = copy.deepcopy(model).to(device).eval().requires_grad_(False)

    def forward() -> None:
        with torch.no_grad():
            frozen.encode(noisy)

    def forward_backward(encoder: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            x = noisy.clone().requires_grad_()
            sum(f.float().mean() for f in encoder.encode(x)).backward()

        return run

    warm_criterion = CombinedLoss([{"name": "l1"}, {"name": "mrstft"}]).to(device)

    def criterion() -> None:
        enhanced = noisy.clone().requires_grad_()
        warm_criterion(enhanced, noisy.flip(0), noisy)[0].backward()

    runs = {
        "fwd": forward,
        "fwd_bwd_input": forward_backward(frozen),
        "fwd_bwd_params": forward_backward(live),
        "warm_criterion": criterion,
    }
    for run in runs.values():
        run()
    return {key: statistics.median(timed(run, device) for _ in range(rounds)) for key, run in runs.items()}


def bench_model(name: str, args, device: torch.device, specs: Dict[str, Callable[[], list]]) -> None:
    torch.manual_seed(0)
    model = build_model(name)
    samples = int(args.seconds * model.sample_rate)
    gen = torch.Generator().manual_seed(0)
    clean = (0.1 * torch.randn(args.batch_size, samples, generator=gen)).to(device)
    noisy = clean + (0.05 * torch.randn(args.batch_size, samples, generator=gen)).to(device)
    setups = {label: Setup(model, make(), device) for label, make in specs.items()}
    times: Dict[str, List[float]] = {label: [] for label in setups}
    for round_index in range(args.steps + 1):
        for label, setup in setups.items():
            t = timed(lambda: setup.step(noisy, clean), device)
            if round_index > 0:  # the first round is untimed (allocation, lazy init)
                times[label].append(t)
    median = {label: statistics.median(ts) for label, ts in times.items()}
    enc = encoder_times(model, noisy, device, max(3, args.steps))
    warm = median["warm-up l1+mrstft"]
    audio = args.batch_size * args.seconds
    params = sum(p.numel() for p in model.parameters())
    enc_params = sum(p.numel() for p in model.encoder_parameters())
    print(f"\n### {name}: {params / 1e6:.2f} M parameters ({enc_params / 1e6:.2f} M in the encoder)\n")
    print("| step | s/step | audio s/s | x warm-up |")
    print("|---|---:|---:|---:|")
    for label, t in median.items():
        print(f"| {label} | {t:.3f} | {audio / t:.1f} | {t / warm:.2f} |")
    frozen_floor = 1 + (enc["fwd"] + enc["fwd_bwd_input"] - enc["warm_criterion"]) / warm
    dynamic_floor = 1 + (enc["fwd"] + enc["fwd_bwd_params"] - enc["warm_criterion"]) / warm
    print(
        f"\nencoder forward = {enc['fwd']:.3f} s = {enc['fwd'] / warm:.0%} of a warm-up step; forward+backward "
        f"{enc['fwd_bwd_input']:.3f} s (input grads) / {enc['fwd_bwd_params']:.3f} s (+ parameter grads); "
        f"l1+mrstft forward+backward {enc['warm_criterion']:.3f} s"
    )
    print(f"theoretical MAL floor (x warm-up): frozen {frozen_floor:.2f}, dynamic {dynamic_floor:.2f}")
    report_targets(median, warm)


def report_targets(median: Dict[str, float], warm: float) -> None:
    wavlm = median.get("deep-feature wavlm-base")
    for variant in MAL_VARIANTS:
        t = median[f"mal {variant}"]
        line = f"mal {variant}: {t / warm:.2f}x warm-up ({'ok' if t / warm <= MAL_TARGET else 'MISSED'} <= {MAL_TARGET})"
        if wavlm is not None:
            line += f", wavlm-base step = {wavlm / t:.1f}x ({'ok' if wavlm / t >= WAVLM_TARGET else 'MISSED'} >= {WAVLM_TARGET})"
        print(line)


def parse_layers(text: str):
    return "all" if text == "all" else [int(i) for i in text.split(",")]


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["pipeline"]:  # the whole training pipeline of a recipe config (data included)
        from train_throughput import main as pipeline_main

        pipeline_main(argv[1:])
        return
    args = get_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    specs = criterion_specs(parse_layers(args.mal_layers), not args.no_wavlm)
    print(
        f"train_speed: device={device} threads={args.threads} batch={args.batch_size} x {args.seconds:g} s, "
        f"median of {args.steps} interleaved steps, torch {torch.__version__}"
    )
    for name in args.models.split(","):
        bench_model(name.strip(), args, device, specs)


if __name__ == "__main__":
    main()
