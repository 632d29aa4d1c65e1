#!/usr/bin/env python
"""Side-by-side benchmark of a finished recipe's systems against external enhancers (peers).

    python bench/compare.py --exp egs/mini_offline/exp/<tag> [--out compare.md]
        [--peers rnnoise,noisereduce,nsnet2] [--test-sets test,test_ood] [--rtf-seconds 20]

For every test set (``EXP/scores/<set>/``) one table: PESQ-WB, ESTOI, SI-SDR, DNSMOS OVRL,
trained parameters and the real-time factor on ONE CPU thread, for the noisy input, each peer
and each trained system (``EXP/<system>/model.pth``). Scores come from the recipe's files
(``EXP/scores/<set>/<system>/<metric>``); a peer the recipe did not score is enhanced and scored
here with mal.score into ``--work-dir`` (default ``EXP/bench``; reused on a re-run), DNSMOS on
the same utterances as the recipe's (``dnsmos_max_utts``). Every mean in a column is over the
utterances that all its systems have a score for (``n`` in the header).
RTF: every system enhances the same first ``--rtf-seconds`` of audio of the first test set in
this process, one thread (torch, onnxruntime); CPU time / audio time (wall time next to it:
larger when other jobs share the machine). Training cost: seconds per epoch and per step of
each system's ``log.csv`` (epoch time includes its validation pass), as ratios to warm-up.
The target (MAL above RNNoise and spectral gating on PESQ-WB and DNSMOS OVRL on every test
set, RTF <= 0.02) is checked and printed as met / MISSED.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml

from mal.enhance.inference import Enhancer, SignalEnhancer, enhance_scp
from mal.enhance.peers import build_peer, peer_names
from mal.io.atomic import atomic_open
from mal.io.audio import read_audio
from mal.io.scp import read_scp
from mal.score.metrics import NONINTRUSIVE_METRICS, score_pair
from mal.score.summary import read_scores_dir, write_scores

METRICS = ("pesq_wb", "estoi", "sisdr", "dnsmos_ovrl")
METRIC_TITLES = {"pesq_wb": "PESQ-WB", "estoi": "ESTOI", "sisdr": "SI-SDR (dB)", "dnsmos_ovrl": "DNSMOS OVRL"}
NOISY = "noisy"
WARMUP = "warmup"
MAL = "mal"
#: Peers MAL must beat (when compared), and the RTF it must stay under.
TARGET_PEERS = ("rnnoise", "noisereduce")
TARGET_METRICS = ("pesq_wb", "dnsmos_ovrl")
TARGET_RTF = 0.02


class CompareError(ValueError):
    """Missing or inconsistent experiment files; the message names the path."""


@dataclass
class Row:
    system: str
    kind: str  # input / peer / mal
    scores: Dict[str, Dict[str, float]] = field(default_factory=dict)  # metric -> key -> value
    params: Optional[int] = None
    cpu_rtf: Optional[float] = None
    wall_rtf: Optional[float] = None


# --- systems -------------------------------------------------------------------------------------


def trained_systems(exp: Path) -> List[str]:
    """``EXP/<system>/model.pth`` systems: warm-up first, MAL last, the others sorted between."""
    names = sorted(p.parent.name for p in exp.glob("*/model.pth"))
    middle = [n for n in names if n not in (WARMUP, MAL)]
    return [n for n in (WARMUP,) if n in names] + middle + [n for n in (MAL,) if n in names]


def test_sets(exp: Path, wanted: Optional[str]) -> List[str]:
    root = exp / "scores"
    if wanted:
        names = [s for s in wanted.split(",") if s]
        for name in names:
            if not (root / name).is_dir():
                raise CompareError(f"{root / name}: no scores for test set '{name}' (run stage 6)")
        return names
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not names:
        raise CompareError(f"{root}: no test sets scored (run stage 6 of the recipe)")
    return names


def data_dir(data_root: Path, test_set: str) -> Path:
    path = data_root / test_set
    for table in ("wav.scp", "spk1.scp"):
        if not (path / table).is_file():
            raise CompareError(f"{path / table}: not found (--data-root: the recipe's EXP/report_data)")
    return path


def count_parameters(model_path: Path) -> int:
    from mal.models.pretrained import load_model

    model, _ = load_model(model_path)
    return sum(p.numel() for p in model.parameters())


# --- scores --------------------------------------------------------------------------------------


def read_scores(directory: Path) -> Dict[str, Dict[str, float]]:
    scores = read_scores_dir(directory)
    return {m: scores.values[m] for m in METRICS if m in scores.values}


def dnsmos_keys(test_dir: Path) -> Optional[List[str]]:
    """Utterances the recipe scored DNSMOS on (its dnsmos_max_utts subset), from any system."""
    for system_dir in sorted(test_dir.iterdir()):
        path = system_dir / "dnsmos_ovrl"
        if path.is_file():
            return list(read_scores_dir(system_dir).values.get("dnsmos_ovrl", {}))
    return None


def has_scores(directory: Path, metrics: Sequence[str]) -> bool:
    return all((directory / m).is_file() for m in metrics)


def score_peer(
    name: str,
    data: Path,
    enhanced_dir: Path,
    scores_dir: Path,
    metrics: Sequence[str],
    nonintrusive_keys: Optional[Sequence[str]],
) -> None:
    """Enhance ``data/wav.scp`` with peer ``name`` and score it against ``data/spk1.scp``."""
    peer = build_peer(name, num_threads=1)
    estimates = enhance_scp(peer, data / "wav.scp", enhanced_dir, skip_existing=True)
    references = read_scp(data / "spk1.scp")
    intrusive = [m for m in metrics if m not in NONINTRUSIVE_METRICS]
    nonintrusive = [m for m in metrics if m in NONINTRUSIVE_METRICS]
    wanted_nonintrusive = set(estimates if nonintrusive_keys is None else nonintrusive_keys)
    scores: Dict[str, Dict[str, float]] = {}
    failures: Dict[str, Dict[str, str]] = {}
    for key, path in estimates.items():
        if key not in references:
            raise CompareError(f"{data / 'spk1.scp'}: key '{key}' missing")
        est, rate = read_audio(path, key=key)
        ref, _ = read_audio(references[key], rate, resample_to_rate=True, key=key)
        keyed = intrusive + (nonintrusive if key in wanted_nonintrusive else [])
        failed: Dict[str, str] = {}
        scores[key] = score_pair(ref, est, rate, keyed, key=key, failures=failed)
        if failed:
            failures[key] = failed
    scores_dir.mkdir(parents=True, exist_ok=True)
    write_scores(scores_dir, list(metrics), scores, failures)


def column_means(rows: Sequence[Row], metric: str) -> Tuple[Dict[str, float], int]:
    """Per system, the mean of ``metric`` over the utterances every system with it has scored."""
    tables = [r.scores[metric] for r in rows if r.scores.get(metric)]
    if not tables:
        return {}, 0
    common = set.intersection(*(set(t) for t in tables))
    means = {
        r.system: math.fsum(r.scores[metric][k] for k in common) / len(common)
        for r in rows if r.scores.get(metric) and common
    }
    return means, len(common)


# --- real-time factor ----------------------------------------------------------------------------


def rtf_audio(data: Path, seconds: float) -> Tuple[List[np.ndarray], int]:
    """The first utterances of ``data/wav.scp`` that add up to at least ``seconds``."""
    wavs, total, rate = [], 0.0, 0
    for key, entry in read_scp(data / "wav.scp").items():
        wav, rate = read_audio(entry, key=key)
        wavs.append(wav)
        total += len(wav) / rate
        if total >= seconds:
            break
    return wavs, rate


def measure_rtf(enhancer: SignalEnhancer, wavs: Sequence[np.ndarray], rate: int) -> Tuple[float, float]:
    """(CPU, wall) seconds per second of audio, after one untimed warm-up call."""
    enhancer.enhance(wavs[0][: rate], rate)
    cpu, wall = time.process_time(), time.perf_counter()
    for wav in wavs:
        enhancer.enhance(wav, rate)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    seconds = sum(len(w) for w in wavs) / rate
    return cpu / seconds, wall / seconds


# --- training cost -------------------------------------------------------------------------------


@dataclass
class TrainingCost:
    system: str
    epochs: int
    steps: int
    seconds: float
    batch: str

    @property
    def per_epoch(self) -> float:
        return self.seconds / self.epochs if self.epochs else float("nan")

    @property
    def per_step(self) -> float:
        return self.seconds / self.steps if self.steps else float("nan")


def training_cost(system_dir: Path) -> Optional[TrainingCost]:
    """Totals of ``log.csv`` (one row per epoch; ``step`` counts this run's optimiser steps)."""
    log = system_dir / "log.csv"
    if not log.is_file():
        return None
    with open(log, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    try:
        seconds = math.fsum(float(r["seconds"]) for r in rows)
        steps = int(float(rows[-1]["step"]))
    except (KeyError, ValueError) as e:
        raise CompareError(f"{log}: needs numeric 'step' and 'seconds' columns ({e})") from None
    batch = "-"
    config = system_dir / "config.yaml"
    if config.is_file():
        with open(config, encoding="utf-8") as f:
            conf = (yaml.safe_load(f) or {}).get("batch") or {}
        if "batch_size" in conf:
            batch = f"{conf['batch_size']} x {conf.get('segment_seconds', '?')} s"
    return TrainingCost(system_dir.name, len(rows), steps, seconds, batch)


# --- report --------------------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: Optional[float], digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def fmt_params(value: Optional[int]) -> str:
    if value is None:
        return "-"
    return "0 (DSP)" if value == 0 else f"{value / 1e6:.2f} M"


def score_table(rows: Sequence[Row]) -> Tuple[str, Dict[str, Dict[str, float]]]:
    means = {m: column_means(rows, m) for m in METRICS}
    header = ["system"] + [f"{METRIC_TITLES[m]} (n={means[m][1]})" for m in METRICS] + ["params", "RTF CPU (1 thread)", "RTF wall"]
    body = []
    for r in rows:
        cells = [fmt(means[m][0].get(r.system), 2 if m == "sisdr" else 3) for m in METRICS]
        body.append([f"{r.system} ({r.kind})" if r.kind != "input" else r.system, *cells,
                     fmt_params(r.params), fmt(r.cpu_rtf, 4), fmt(r.wall_rtf, 4)])
    return markdown_table(header, body), {m: means[m][0] for m in METRICS}


def cost_table(costs: Sequence[TrainingCost]) -> str:
    base = next((c for c in costs if c.system == WARMUP), None)

    def ratio(a: float, b: Optional[float]) -> str:
        return f"{a / b:.2f}x" if b and math.isfinite(a) and math.isfinite(b) else "-"

    rows = [[c.system, c.batch, str(c.epochs), str(c.steps), fmt(c.per_epoch, 1), fmt(c.per_step, 3),
             ratio(c.per_epoch, base.per_epoch if base else None), ratio(c.per_step, base.per_step if base else None)]
            for c in costs]
    header = ["system", "batch", "epochs", "steps", "s / epoch", "s / step", "epoch vs warm-up", "step vs warm-up"]
    return markdown_table(header, rows)


def target_lines(per_set: Dict[str, Dict[str, Dict[str, float]]], mal_rtf: Optional[float]) -> List[str]:
    lines = []
    for test_set, means in per_set.items():
        for metric in TARGET_METRICS:
            mal = means.get(metric, {}).get(MAL)
            for peer in TARGET_PEERS:
                other = means.get(metric, {}).get(peer)
                if mal is None or other is None:
                    lines.append(f"- {test_set} {METRIC_TITLES[metric]}: mal vs {peer}: not compared (a score is missing)")
                    continue
                verdict = "met" if mal > other else "MISSED"
                lines.append(f"- {test_set} {METRIC_TITLES[metric]}: mal {mal:.3f} vs {peer} {other:.3f}: {verdict}")
    if mal_rtf is None:
        lines.append(f"- RTF <= {TARGET_RTF:g} on one thread: not measured (no mal model)")
    else:
        lines.append(f"- RTF <= {TARGET_RTF:g} on one thread: mal {mal_rtf:.4f} (CPU time): {'met' if mal_rtf <= TARGET_RTF else 'MISSED'}")
    return lines


# --- main ----------------------------------------------------------------------------------------


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/compare.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--exp", required=True, help="the recipe's experiment dir, e.g. egs/mini_offline/exp/<tag>")
    p.add_argument("--out", help="also write the report (Markdown) to this file")
    p.add_argument("--peers", default="rnnoise,noisereduce,nsnet2", help="comma-separated peers (mal.enhance.peers)")
    p.add_argument("--test-sets", help="comma-separated test sets (default: every EXP/scores/<set>)")
    p.add_argument("--data-root", help="data dirs of the test sets (default: EXP/report_data)")
    p.add_argument("--work-dir", help="peers' enhanced audio and scores (default: EXP/bench)")
    p.add_argument("--rtf-seconds", type=float, default=20.0, help="audio enhanced by each system for the RTF")
    p.add_argument("--rescore", action="store_true", help="re-enhance and re-score peers even if --work-dir has them")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    torch.set_num_threads(1)
    exp = Path(args.exp)
    try:
        report = run(
            exp, [p for p in args.peers.split(",") if p], args.test_sets,
            Path(args.data_root) if args.data_root else exp / "report_data",
            Path(args.work_dir) if args.work_dir else exp / "bench", args.rtf_seconds, args.rescore,
        )
    except (ValueError, OSError, KeyError) as e:
        print(f"compare.py: error: {e}", file=sys.stderr)
        return 1
    print(report)
    if args.out:
        with atomic_open(args.out) as f:
            f.write(report + "\n")
    return 0


def run(exp: Path, peers: List[str], wanted_sets: Optional[str], data_root: Path, work_dir: Path,
        rtf_seconds: float, rescore: bool) -> str:
    if not exp.is_dir():
        raise CompareError(f"{exp}: experiment dir not found")
    sets = test_sets(exp, wanted_sets)
    systems = trained_systems(exp)
    # Peers the recipe scored (mal.sh peer_systems) are shown even when not asked for.
    peers = peers + [p for p in peer_names() if p not in peers and any((exp / "scores" / s / p).is_dir() for s in sets)]
    enhancers: Dict[str, SignalEnhancer] = {name: build_peer(name, num_threads=1) for name in peers}
    params: Dict[str, Optional[int]] = {name: enhancers[name].num_parameters for name in peers}  # type: ignore[attr-defined]
    for name in systems:
        enhancers[name] = Enhancer.from_checkpoint(exp / name / "model.pth")
        params[name] = count_parameters(exp / name / "model.pth")

    rtf_set = sets[0]
    wavs, rate = rtf_audio(data_dir(data_root, rtf_set), rtf_seconds)
    rtf = {name: measure_rtf(enhancer, wavs, rate) for name, enhancer in enhancers.items()}
    audio_seconds = sum(len(w) for w in wavs) / rate

    sections, per_set = [], {}
    for test_set in sets:
        data, test_dir = data_dir(data_root, test_set), exp / "scores" / test_set
        rows = [Row(NOISY, "input", read_scores(test_dir / NOISY) if (test_dir / NOISY).is_dir() else {})]
        for name in peers:
            recipe_dir, own_dir = test_dir / name, work_dir / "scores" / test_set / name
            if recipe_dir.is_dir():
                source = recipe_dir
            else:
                if rescore or not has_scores(own_dir, METRICS):
                    print(f"compare.py: enhancing and scoring {test_set} with {name} into {own_dir}", file=sys.stderr)
                    score_peer(name, data, work_dir / "enhanced" / test_set / name, own_dir, METRICS, dnsmos_keys(test_dir))
                source = own_dir
            rows.append(Row(name, "peer", read_scores(source), params[name], *rtf[name]))
        for name in systems:
            if not (test_dir / name).is_dir():
                raise CompareError(f"{test_dir / name}: system '{name}' has a model but no scores (run stage 6)")
            rows.append(Row(name, "mal", read_scores(test_dir / name), params[name], *rtf[name]))
        table, per_set[test_set] = score_table(rows)
        sections.append(f"### {test_set}\n\n{table}")

    costs = [c for c in (training_cost(exp / name) for name in systems) if c is not None]
    mal_rtf = rtf[MAL][0] if MAL in rtf else None
    parts = [
        f"## Side-by-side benchmark: {exp}",
        "",
        f"Means over the utterances every system in a column has a score for (n). RTF: processing time / audio "
        f"time enhancing the first {audio_seconds:.1f} s of {rtf_set} on one CPU thread in one process "
        f"(CPU time; wall time grows when other jobs share the machine). Params: trained weights.",
        "",
        "\n\n".join(sections),
        "",
        "### Training cost (log.csv; an epoch's time includes its validation pass)",
        "",
        cost_table(costs) if costs else "no log.csv found",
        "",
        "### Targets",
        "",
        "\n".join(target_lines(per_set, mal_rtf)),
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
