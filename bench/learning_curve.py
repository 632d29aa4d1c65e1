#!/usr/bin/env python
"""Learning curve of a training config: valid scores against the CPU time spent training.

    python -m bench.learning_curve --recipe-dir egs/mini_offline --config conf/warmup.yaml \\
        --name baseline --out exp/learning_curve [--override KEY=VALUE ...] \\
        [--steps 1200] [--eval-every 150] [--eval-utts 40] [--threads 2]

Every other path is relative to ``--recipe-dir`` (the config's data pools are). The config
trains once for ``--steps`` optimiser steps with an epoch of ``--eval-every`` steps, every
epoch's checkpoint kept (the run resumes when the command is repeated); then each epoch's model
enhances the same ``--eval-utts`` valid utterances (spread over the sorted valid set), which are
scored with PESQ-WB, ESTOI and SI-SDR, and SI-SDR improvement per noise kind (``utt2category``).
The CPU time of an epoch is the training process's own (user + system, loader workers
included; ``cpu_seconds`` in the run's log.csv), so other jobs on the machine change the wall
time but hardly the curve. Output: a markdown table on stdout and in ``OUT/NAME/curve.md``, the
numbers in ``OUT/NAME/curve.json``, and ``OUT/NAME/curve.png``; ``--compare A,B,...`` draws
finished runs into one ``OUT/compare.png`` and table instead of training.
"""
from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from bench.model_choice import spread
from mal.enhance import Enhancer, enhance_scp
from mal.io.atomic import atomic_open, write_json
from mal.io.datadir import subset_data_dir
from mal.io.scp import read_scp
from mal.score.metrics import score_tables
from mal.train.config import build_config, load_config
from mal.train.trainer import train

METRICS = ("pesq_wb", "estoi", "sisdr")


def per_utterance(estimates: Dict[str, str], refs: Dict[str, str], keys: List[str]) -> Dict[str, Dict[str, float]]:
    """key -> {metric: value} for PESQ-WB, ESTOI and SI-SDR."""
    return {key: scores for key, scores, _ in score_tables(estimates, METRICS, refs, keys)}


def summarise(scores: Dict[str, Dict[str, float]], noisy: Dict[str, Dict[str, float]], kinds: Dict[str, str]) -> Dict[str, Any]:
    """Means of the metrics, SI-SDR improvement overall and per noise kind, over the scored keys."""
    keys = sorted(scores)
    out: Dict[str, Any] = {m: float(np.mean([scores[k][m] for k in keys])) for m in METRICS}
    gains = {k: scores[k]["sisdr"] - noisy[k]["sisdr"] for k in keys}
    out["sisdri"] = float(np.mean(list(gains.values())))
    out["pesq_wb_gain"] = out["pesq_wb"] - float(np.mean([noisy[k]["pesq_wb"] for k in keys]))
    out["sisdri_by_kind"] = {
        kind: float(np.mean([g for k, g in gains.items() if kinds.get(k, "?") == kind]))
        for kind in sorted({kinds.get(k, "?") for k in keys})
    }
    return out


def epoch_rows(log_csv: Path) -> List[Dict[str, float]]:
    """(epoch, step, cumulative CPU minutes, cumulative wall minutes) of a run's log.csv."""
    rows, cpu, wall = [], 0.0, 0.0
    with open(log_csv, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            cpu += float(row.get("cpu_seconds") or "nan")
            wall += float(row["seconds"])
            rows.append({"epoch": int(row["epoch"]), "step": int(row["step"]), "cpu_min": cpu / 60.0, "wall_min": wall / 60.0})
    return rows


def train_run(config: Dict[str, Any], args: argparse.Namespace, run_dir: Path, valid_sub: Path) -> Path:
    """Train (or resume) with every epoch's checkpoint kept; returns the experiment dir."""
    config = copy.deepcopy(config)
    epochs = max(1, -(-args.steps // args.eval_every))
    config["train"].update({"max_steps": args.steps, "steps_per_epoch": args.eval_every, "max_epochs": epochs, "keep_nbest": epochs})
    config = build_config(config, source=f"learning curve '{args.name}'")
    exp = run_dir / "train"
    if not (exp / "model.pth").is_file():
        torch.set_num_threads(args.threads)
        train(config, args.train_dir, valid_sub, exp, resume=(exp / "checkpoint.pth").is_file(), device=args.device)
    return exp


def refresh_subset(valid_dir: Path, valid_sub: Path, count: int) -> str:
    """(Re)write ``valid_sub`` as ``count`` utterances spread over ``valid_dir`` (only when it
    changed) and return its fingerprint: a hash of its tables and of the audio files they name,
    so a rebuilt valid set invalidates every score cached against the old one."""
    fresh = subset_data_dir(valid_dir, valid_sub.with_name(f".{valid_sub.name}.{os.getpid()}.new"), spread(read_scp(valid_dir / "wav.scp"), count))
    same = valid_sub.is_dir() and sorted(p.name for p in valid_sub.iterdir()) == sorted(p.name for p in fresh.iterdir()) and all(
        (valid_sub / p.name).read_bytes() == p.read_bytes() for p in fresh.iterdir())
    if same:
        shutil.rmtree(fresh)
    else:
        shutil.rmtree(valid_sub, ignore_errors=True)
        fresh.replace(valid_sub)
    digest = hashlib.sha256()
    for table in sorted(valid_sub.iterdir()):
        digest.update(table.name.encode() + b"\0" + table.read_bytes())
    for name in ("wav.scp", "spk1.scp"):
        for key, entry in sorted(read_scp(valid_sub / name).items()):
            path = Path(entry)
            digest.update(key.encode() + (path.read_bytes() if path.is_file() else entry.encode()))
    return digest.hexdigest()[:16]


def cached_scores(path: Path, fingerprint: str) -> Optional[Dict[str, Dict[str, float]]]:
    """Scores cached at ``path`` against the valid subset ``fingerprint`` names (None: absent or stale)."""
    if not path.is_file():
        return None
    cached = json.loads(path.read_text())
    return cached["scores"] if cached.get("valid") == fingerprint else None


def evaluate(exp: Path, run_dir: Path, valid_sub: Path, fingerprint: str, noisy: Dict[str, Dict[str, float]],
             args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Score every epoch's model on the valid subset (cached per epoch and valid subset)."""
    keys = sorted(read_scp(valid_sub / "wav.scp"))
    refs = read_scp(valid_sub / "spk1.scp")
    kinds = read_scp(valid_sub / "utt2category") if (valid_sub / "utt2category").is_file() else {}
    points = []
    for row in epoch_rows(exp / "log.csv"):
        cache = run_dir / "scores" / f"epoch{row['epoch']}.json"
        scores = cached_scores(cache, fingerprint)
        if scores is None:
            enhanced = run_dir / "enhanced" / f"epoch{row['epoch']}"
            shutil.rmtree(enhanced, ignore_errors=True)  # made from another valid set, or half-written
            enhancer = Enhancer.from_checkpoint(exp / f"epoch{row['epoch']}.pth", device=args.device)
            scores = per_utterance(enhance_scp(enhancer, valid_sub / "wav.scp", enhanced), refs, keys)
            write_json(cache, {"valid": fingerprint, "scores": scores})
        points.append(dict(row, **summarise(scores, noisy, kinds)))
    return points


def noisy_scores(args: argparse.Namespace, valid_sub: Path, fingerprint: str) -> Dict[str, Dict[str, float]]:
    cache = args.out / "noisy.json"
    scores = cached_scores(cache, fingerprint)
    if scores is None:
        keys = sorted(read_scp(valid_sub / "wav.scp"))
        scores = per_utterance(read_scp(valid_sub / "wav.scp"), read_scp(valid_sub / "spk1.scp"), keys)
        write_json(cache, {"valid": fingerprint, "scores": scores})
    return scores


def table(name: str, points: List[Dict[str, Any]], noisy: Dict[str, Dict[str, float]]) -> str:
    kinds = sorted(points[0]["sisdri_by_kind"]) if points else []
    keys = sorted(noisy)
    base = {m: float(np.mean([noisy[k][m] for k in keys])) for m in METRICS}
    head = "| run | step | CPU min | wall min | PESQ-WB | ESTOI | SI-SDR | SI-SDRi | " + " | ".join(kinds) + " |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(kinds),
             f"| noisy | 0 | 0 | 0 | {base['pesq_wb']:.3f} | {base['estoi']:.3f} | {base['sisdr']:.2f} | 0.00 | " + " | ".join("0.00" for _ in kinds) + " |"]
    for p in points:
        lines.append(f"| {name} | {p['step']} | {p['cpu_min']:.1f} | {p['wall_min']:.1f} | {p['pesq_wb']:.3f} | {p['estoi']:.3f} | {p['sisdr']:.2f} | "
                     f"{p['sisdri']:+.2f} | " + " | ".join(f"{p['sisdri_by_kind'].get(k, float('nan')):+.2f}" for k in kinds) + " |")
    return "\n".join(lines) + "\n"


def plot(curves: Dict[str, List[Dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, points in curves.items():
        x = [p["cpu_min"] for p in points]
        for ax, metric in zip(axes, ("sisdri", "pesq_wb_gain", "estoi")):
            ax.plot(x, [p[metric] for p in points], marker="o", label=name)
    for ax, title in zip(axes, ("valid SI-SDR improvement (dB)", "valid PESQ-WB gain over noisy", "valid ESTOI")):
        ax.set_title(title)
        ax.set_xlabel("training CPU minutes")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipe-dir", type=Path, default=Path("."), help="the recipe directory; other paths are relative to it")
    p.add_argument("--config", type=Path, help="a mal-train config")
    p.add_argument("--override", action="append", default=[], help="mal-train --override text (repeatable)")
    p.add_argument("--name", default="", help="the run's name (its folder under --out)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--train-dir", type=Path, default=Path("data/train"))
    p.add_argument("--valid-dir", type=Path, default=Path("data/valid"))
    p.add_argument("--steps", type=int, default=1200, help="optimiser steps in all (default: %(default)s)")
    p.add_argument("--eval-every", type=int, default=150, help="steps between scored checkpoints (default: %(default)s)")
    p.add_argument("--eval-utts", type=int, default=40, help="valid utterances scored (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for training (default: %(default)s)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--compare", default="", help="comma-separated finished run names: one plot and table, no training")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    os.chdir(args.recipe_dir)
    if args.steps < 1 or args.eval_every < 1 or args.eval_utts < 1:
        print("learning_curve: --steps, --eval-every and --eval-utts must be >= 1", file=sys.stderr)
        return 2
    valid_sub = args.out / "data" / f"valid_{args.eval_utts}"
    fingerprint = refresh_subset(args.valid_dir, valid_sub, args.eval_utts)
    noisy = noisy_scores(args, valid_sub, fingerprint)
    if args.compare:
        curves = {}
        for name in [n for n in args.compare.split(",") if n]:
            path = args.out / name / "curve.json"
            if not path.is_file():
                print(f"learning_curve: {path}: no finished run '{name}'", file=sys.stderr)
                return 1
            curves[name] = json.loads(path.read_text())
        text = "".join(table(n, c, noisy) + "\n" for n, c in curves.items())
        plot(curves, args.out / "compare.png")
        print(text + f"plot: {args.out / 'compare.png'}")
        return 0
    if args.config is None or not args.name:
        print("learning_curve: --config and --name are needed to train a run", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config, args.override)
    except (OSError, ValueError) as e:
        print(f"learning_curve: {e}", file=sys.stderr)
        return 1
    run_dir = args.out / args.name
    exp = train_run(config, args, run_dir, valid_sub)
    points = evaluate(exp, run_dir, valid_sub, fingerprint, noisy, args)
    write_json(run_dir / "curve.json", points)
    text = table(args.name, points, noisy)
    with atomic_open(run_dir / "curve.md", "w") as f:
        f.write(text)
    plot({args.name: points}, run_dir / "curve.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
