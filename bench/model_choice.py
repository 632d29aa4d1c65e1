#!/usr/bin/env python
"""Choosing the model on a fixed CPU budget: every candidate trains for the same wall time.

    python -m bench.model_choice --recipe-dir egs/mini_offline --candidates conf/model_choice.yaml \\
        --out exp/model_choice [--minutes 4] [--eval-utts 40] [--dnsmos-utts 20] [--only a,b]

Every other path is relative to ``--recipe-dir`` (the configs' data pools are).

The candidates file::

    base: warmup.yaml        # a mal-train config (relative to the candidates file's directory)
    rtf_max: 0.02            # one-thread real-time factor a candidate may have
    latency_ms_max: 40       # algorithmic latency of its causal form
    candidates:
      tfmask_causal: ["model={name: tfmask, conf: {causal: true}}"]   # mal-train --override texts

For each candidate: the time of one optimiser step of its real pipeline (dynamic mixing
included) sets the number of steps that fills ``--minutes`` (validation runs on top; the table
shows the wall time the training really took); it trains with
``mal.train.trainer.train`` (one epoch, constant learning rate as configured), enhances
``--eval-utts`` valid utterances and is scored (PESQ-WB, ESTOI, SI-SDR; DNSMOS OVRL on
``--dnsmos-utts``). Its offline one-thread RTF (10 s of audio, best of 3) and causal latency are
measured on the model as built. The choice: the highest valid PESQ-WB among the candidates
within ``rtf_max`` and ``latency_ms_max`` (ties by ESTOI). Step times are all measured first, back to back. Results are cached per candidate in
``OUT/<name>/result.json``; the table goes to stdout and ``OUT/model_choice.md``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import yaml

from bench.train_throughput import Pipeline, Variant

from mal.enhance import Enhancer, enhance_scp
from mal.io.atomic import atomic_open, write_json
from mal.io.datadir import subset_data_dir
from mal.io.scp import read_scp
from mal.models import build_model
from mal.score.metrics import score_tables
from mal.train.config import apply_override, build_config
from mal.train.trainer import train

INTRUSIVE = ("pesq_wb", "estoi", "sisdr")
DNSMOS = "dnsmos_ovrl"


class ChoiceError(ValueError):
    """A candidates file or data directory that cannot be used."""


def spread(keys: Sequence[str], n: int) -> List[str]:
    """``n`` keys evenly spaced over the sorted ``keys`` (all of them when n <= 0 or n >= len)."""
    keys = sorted(keys)
    if n <= 0 or n >= len(keys):
        return keys
    return [keys[int(i * len(keys) / n)] for i in range(n)]


def dnsmos_keys(keys: Sequence[str], n: int) -> List[str]:
    """The DNSMOS subset: ``n`` keys spread over ``keys``; none when n <= 0."""
    return spread(keys, n) if n > 0 else []


def read_candidates(path: Path) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    if not isinstance(raw, dict) or "base" not in raw or not isinstance(raw.get("candidates"), dict):
        raise ChoiceError(f"{path}: expected a mapping with 'base' (a mal-train config) and 'candidates'")
    base_path = path.parent / raw["base"]
    with open(base_path, encoding="utf-8") as f:
        base = yaml.safe_load(f)
    configs = {}
    for name, overrides in raw["candidates"].items():
        config = copy.deepcopy(base)
        try:
            for text in overrides or []:
                apply_override(config, text)
            config = build_config(config, source=f"{path}: candidate '{name}'")
        except ValueError as e:
            raise ChoiceError(f"{path}: candidate '{name}': {e}") from None
        configs[str(name)] = config
    return {"configs": configs, "rtf_max": float(raw.get("rtf_max", 0.02)), "latency_ms_max": float(raw.get("latency_ms_max", 40))}


def step_seconds(config: Dict[str, Any], train_dir: Path, steps: int = 6) -> float:
    """Wall time of one optimiser step of the config's real training pipeline, batch loading
    included (mean over ``steps`` after one untimed step)."""
    torch.manual_seed(0)
    batch = config["batch"]
    variant = Variant("candidate", num_workers=int(batch.get("num_workers", 0)), batch_size=int(batch["batch_size"]),
                      segment_seconds=float(batch["segment_seconds"]))
    pipeline = Pipeline(variant, config, str(train_dir))
    pipeline.steps(1)
    return pipeline.steps(steps) / steps


def one_thread_rtf(model: torch.nn.Module, seconds: float = 10.0, repeats: int = 3) -> float:
    """Best-of-``repeats`` wall time / audio time of offline enhancement on one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        wav = 0.1 * torch.randn(1, int(seconds * model.sample_rate), generator=torch.Generator().manual_seed(0))
        model = model.eval()
        best = float("inf")
        with torch.no_grad():
            model(wav[:, : model.sample_rate])
            for _ in range(repeats):
                start = time.perf_counter()
                model(wav)
                best = min(best, time.perf_counter() - start)
        return best / seconds
    finally:
        torch.set_num_threads(threads)


def latency_ms(model: torch.nn.Module) -> Optional[float]:
    """Algorithmic latency of the model's causal form in ms (None when it has no causal form)."""
    samples = model.algorithmic_latency if getattr(model, "causal", False) else None
    return None if samples is None else 1000.0 * samples / model.sample_rate


def score(estimates: Dict[str, str], refs: Dict[str, str], keys: List[str], dnsmos_keys: List[str]) -> Dict[str, float]:
    values: Dict[str, List[float]] = {m: [] for m in INTRUSIVE + (DNSMOS,)}
    runs = [(INTRUSIVE, refs, keys)] + ([((DNSMOS,), None, dnsmos_keys)] if dnsmos_keys else [])
    for metrics, references, subset in runs:
        for _, scores, _ in score_tables(estimates, metrics, references, subset):
            for m, v in scores.items():
                values[m].append(v)
    return {m: float(np.mean(v)) for m, v in values.items() if v}


def cached_result(name: str, args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    path = args.out / name / "result.json"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def run_candidate(name: str, config: Dict[str, Any], t_step: float, args: argparse.Namespace, valid_sub: Path) -> Dict[str, Any]:
    root = args.out / name
    model = build_model(config["model"]["name"], **(config["model"].get("conf") or {}))
    steps = max(1, int(args.minutes * 60 / t_step))
    config = copy.deepcopy(config)
    config["train"].update({"max_steps": steps, "steps_per_epoch": steps, "max_epochs": 1})
    config = build_config(config, source=f"candidate '{name}'")
    started = time.time()
    model_path = train(config, args.train_dir, valid_sub, root / "train", resume=True, device="cpu")
    train_seconds = time.time() - started
    enhancer = Enhancer.from_checkpoint(model_path, device="cpu")
    keys = sorted(read_scp(valid_sub / "wav.scp"))
    estimates = enhance_scp(enhancer, valid_sub / "wav.scp", root / "enhanced", skip_existing=True)
    scores = score(estimates, read_scp(valid_sub / "spk1.scp"), keys, dnsmos_keys(keys, args.dnsmos_utts))
    result = {
        "name": name, "model": config["model"], "params": sum(p.numel() for p in model.parameters()),
        "step_seconds": round(t_step, 4), "steps": steps, "train_seconds": round(train_seconds, 1),
        "rtf": one_thread_rtf(model), "latency_ms": latency_ms(model), "valid": scores,
    }
    write_json(root / "result.json", result)
    return result


def noisy_scores(args: argparse.Namespace, valid_sub: Path) -> Dict[str, float]:
    cached = args.out / "noisy.json"
    if cached.is_file():
        with open(cached, encoding="utf-8") as f:
            return json.load(f)
    keys = sorted(read_scp(valid_sub / "wav.scp"))
    scores = score(read_scp(valid_sub / "wav.scp"), read_scp(valid_sub / "spk1.scp"), keys, dnsmos_keys(keys, args.dnsmos_utts))
    write_json(cached, scores)
    return scores


def choose(results: List[Dict[str, Any]], rtf_max: float, latency_ms_max: float) -> Optional[Dict[str, Any]]:
    eligible = [r for r in results if r["rtf"] <= rtf_max and r["latency_ms"] is not None and r["latency_ms"] <= latency_ms_max]
    return max(eligible, key=lambda r: (r["valid"]["pesq_wb"], r["valid"]["estoi"]), default=None)


def table(results: List[Dict[str, Any]], noisy: Dict[str, float], chosen: Optional[Dict[str, Any]], minutes: float) -> str:
    lines = [f"Each candidate trained for about {minutes:g} min of optimiser steps; valid scores (DNSMOS on a subset).", "",
             "| candidate | params | steps | train s | RTF (1 thread) | latency ms | PESQ-WB | ESTOI | SI-SDR | DNSMOS OVRL |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| noisy | - | - | - | - | - | {noisy['pesq_wb']:.3f} | {noisy['estoi']:.3f} | {noisy['sisdr']:.2f} | "
             f"{noisy.get(DNSMOS, float('nan')):.3f} |"]
    for r in results:
        v = r["valid"]
        mark = " (chosen)" if chosen is not None and r["name"] == chosen["name"] else ""
        lat = "-" if r["latency_ms"] is None else f"{r['latency_ms']:.0f}"
        lines.append(f"| {r['name']}{mark} | {r['params'] / 1e6:.2f} M | {r['steps']} | {r['train_seconds']:.0f} | {r['rtf']:.4f} | {lat} | "
                     f"{v['pesq_wb']:.3f} | {v['estoi']:.3f} | {v['sisdr']:.2f} | {v.get(DNSMOS, float('nan')):.3f} |")
    return "\n".join(lines) + "\n"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipe-dir", type=Path, default=Path("."), help="the recipe directory; other paths are relative to it")
    p.add_argument("--candidates", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--train-dir", type=Path, default=Path("data/train"))
    p.add_argument("--valid-dir", type=Path, default=Path("data/valid"))
    p.add_argument("--minutes", type=float, default=4.0, help="optimiser-step time per candidate (default: %(default)s)")
    p.add_argument("--eval-utts", type=int, default=40, help="valid utterances scored (default: %(default)s)")
    p.add_argument("--dnsmos-utts", type=int, default=20, help="of those, scored with DNSMOS (default: %(default)s)")
    p.add_argument("--only", default="", help="comma-separated candidate names (default: all)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    os.chdir(args.recipe_dir)
    try:
        spec = read_candidates(args.candidates)
    except (OSError, ChoiceError) as e:
        print(f"model_choice: {e}", file=sys.stderr)
        return 1
    names = [n for n in args.only.split(",") if n] or list(spec["configs"])
    unknown = [n for n in names if n not in spec["configs"]]
    if unknown:
        print(f"model_choice: unknown candidate '{unknown[0]}' (known: {', '.join(spec['configs'])})", file=sys.stderr)
        return 1
    valid_sub = args.out / "data" / f"valid_{args.eval_utts}"
    if not (valid_sub / "wav.scp").is_file():
        subset_data_dir(args.valid_dir, valid_sub, spread(read_scp(args.valid_dir / "wav.scp"), args.eval_utts))
    noisy = noisy_scores(args, valid_sub)
    # every step time is measured before any training, back to back, so load from other jobs
    # hits the candidates alike
    todo = [n for n in names if cached_result(n, args) is None]
    step_times = {n: step_seconds(spec["configs"][n], args.train_dir) for n in todo}
    for name in todo:
        print(f"{name}: {step_times[name]:.3f} s per step -> {int(args.minutes * 60 / step_times[name])} steps", flush=True)
    results = []
    for name in names:
        result = cached_result(name, args) or run_candidate(name, spec["configs"][name], step_times[name], args, valid_sub)
        results.append(result)
        print(f"{name}: {result['valid']}", flush=True)
    chosen = choose(results, spec["rtf_max"], spec["latency_ms_max"])
    text = table(results, noisy, chosen, args.minutes)
    text += f"\nChosen (highest valid PESQ-WB with RTF <= {spec['rtf_max']:g} and causal latency <= {spec['latency_ms_max']:g} ms): " \
            f"{chosen['name'] if chosen else 'none qualifies'}\n"
    with atomic_open(args.out / "model_choice.md", "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
