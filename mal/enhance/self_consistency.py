"""Self-consistency: feed the enhanced output back through the model and watch the metrics drift.

Pass 0 is the noisy input, pass k the model applied k times. Each pass is scored against the
clean reference with :func:`mal.score.metrics.score_pair`; a metric that fails for an
utterance is recorded (key, pass, metric, reason) and left out of that pass's mean.
Outputs: ``drift.csv`` (pass, mean per metric, delta vs pass 1), ``drift.md`` (the same as a
Markdown table), ``drift.png`` (one panel per metric), ``scores.csv`` (per utterance and pass)
and ``failed``.
"""
from __future__ import annotations

import csv
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from mal.enhance.chunked import EnhanceError
from mal.enhance.inference import Enhancer, select_keys
from mal.io.atomic import atomic_open, atomic_path
from mal.io.audio import read_audio
from mal.io.scp import read_scp

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)

DEFAULT_METRICS = ("pesq_wb", "estoi", "sisdr")


@dataclass
class DriftResult:
    """Per-utterance scores of every pass, and the failures."""

    metrics: List[str]
    passes: int
    scores: Dict[Tuple[str, int], Dict[str, float]] = field(default_factory=dict)
    failures: List[Tuple[str, int, str, str]] = field(default_factory=list)

    def mean(self, step: int, metric: str) -> float:
        values = [s[metric] for (_, p), s in self.scores.items() if p == step and metric in s]
        return float(np.mean(values)) if values else math.nan

    def rows(self) -> List[Dict[str, float]]:
        """One row per pass: ``pass``, ``<metric>`` means, ``<metric>_delta`` vs pass 1, ``failed``."""
        rows = []
        for step in range(self.passes + 1):
            row: Dict[str, float] = {"pass": step}
            for m in self.metrics:
                row[m] = self.mean(step, m)
            for m in self.metrics:
                row[f"{m}_delta"] = row[m] - self.mean(1, m)
            row["failed"] = sum(1 for _, p, _, _ in self.failures if p == step)
            rows.append(row)
        return rows


def score(reference: np.ndarray, estimate: np.ndarray, rate: int, metrics: Sequence[str], key: str) -> Tuple[Dict[str, float], Dict[str, str]]:
    """Scores and ``metric -> reason`` failures; a length mismatch is an error naming ``key``."""
    from mal.score.metrics import score_pair

    failed: Dict[str, str] = {}
    values = score_pair(reference, estimate, rate, metrics, key=key, failures=failed)
    return values, failed


def iterate(enhancer: Enhancer, wav: np.ndarray, rate: int, passes: int) -> List[np.ndarray]:
    """``[wav, f(wav), f(f(wav)), ...]`` with ``passes`` applications of the enhancer."""
    outputs = [wav]
    for _ in range(passes):
        outputs.append(enhancer.enhance(outputs[-1], rate))
    return outputs


def self_consistency(
    enhancer: Enhancer,
    wav_scp: PathLike,
    ref_scp: PathLike,
    passes: int = 3,
    metrics: Sequence[str] = DEFAULT_METRICS,
    key_file: Optional[PathLike] = None,
    max_utterances: Optional[int] = None,
) -> DriftResult:
    """Enhance each utterance ``passes`` times and score every pass against its reference."""
    from mal.score.metrics import parse_metrics

    if passes < 1:
        raise EnhanceError(f"passes must be >= 1, got {passes}")
    metrics = parse_metrics(metrics)
    noisy, refs = read_scp(wav_scp), read_scp(ref_scp)
    keys = select_keys(noisy, key_file, wav_scp)[: max_utterances or None]
    result = DriftResult(metrics, passes)
    for n, key in enumerate(keys, start=1):
        if key not in refs:
            raise EnhanceError(f"{ref_scp}: key '{key}' missing (it is in {wav_scp})")
        wav, rate = read_audio(noisy[key], key=key)
        ref, _ = read_audio(refs[key], sample_rate=rate, key=key)
        for step, estimate in enumerate(iterate(enhancer, wav, rate, passes)):
            if not np.all(np.isfinite(estimate)):
                raise EnhanceError(f"utterance '{key}': pass {step} produced NaN or inf samples")
            values, failed = score(ref, estimate, rate, metrics, key)
            result.scores[(key, step)] = values
            result.failures += [(key, step, m, why) for m, why in failed.items()]
        log.info("%d/%d %s done", n, len(keys), key)
    return result


def _fmt(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def write_drift_csv(path: PathLike, result: DriftResult) -> None:
    rows = result.rows()
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (v if isinstance(v, int) else f"{v:.6g}") for k, v in row.items()})


def drift_markdown(result: DriftResult) -> str:
    """Markdown table: one row per pass (pass 0 = the noisy input), mean and delta vs pass 1."""
    n = len({key for key, _ in result.scores})
    head = ["pass"] + [c for m in result.metrics for c in (m, f"Δ{m} vs pass 1")] + ["failed"]
    lines = [
        f"Self-consistency over {n} utterances: pass 0 is the noisy input, pass k the model applied k times.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|",
    ]
    for row in result.rows():
        label = "0 (input)" if row["pass"] == 0 else str(row["pass"])
        cells = [label] + [c for m in result.metrics for c in (_fmt(row[m]), _fmt(row[f"{m}_delta"], True))]
        lines.append("| " + " | ".join(cells + [str(row["failed"])]) + " |")
    return "\n".join(lines) + "\n"


def write_drift_plot(path: PathLike, result: DriftResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.rows()
    steps = [r["pass"] for r in rows[1:]]
    fig, axes = plt.subplots(1, len(result.metrics), figsize=(3.2 * len(result.metrics), 2.8), squeeze=False)
    for ax, metric in zip(axes[0], result.metrics):
        ax.plot(steps, [r[metric] for r in rows[1:]], marker="o", label="enhanced k times")
        ax.axhline(rows[0][metric], color="gray", linestyle="--", label="noisy input")
        ax.set_title(metric)
        ax.set_xlabel("pass k")
        ax.set_xticks(steps)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def write_scores(out_dir: Path, result: DriftResult) -> None:
    with atomic_open(out_dir / "scores.csv", "w") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "pass"] + result.metrics)
        for (key, step), values in sorted(result.scores.items()):
            writer.writerow([key, step] + [f"{values[m]:.6g}" if m in values else "" for m in result.metrics])
    with atomic_open(out_dir / "failed", "w") as f:
        for key, step, metric, why in result.failures:
            f.write(f"{key} {step} {metric} {why}\n")


def write_report(out_dir: PathLike, result: DriftResult) -> None:
    """Write drift.csv, drift.md, drift.png, scores.csv and failed into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_scores(out_dir, result)
    write_drift_csv(out_dir / "drift.csv", result)
    with atomic_open(out_dir / "drift.md", "w") as f:
        f.write(drift_markdown(result))
    write_drift_plot(out_dir / "drift.png", result)
