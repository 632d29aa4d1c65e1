"""Kaldi-style score directories: one ``key value`` file per metric plus ``failed``; summaries.

A scores directory (``exp/scores/<test_set>/<system>/``) holds:

- ``<metric>``: ``key value`` lines, one per utterance that the metric scored;
- ``failed``: ``key metric reason`` lines (possibly empty), never averaged;
- ``summary.yaml``: written by :func:`write_summary` (mal-score --summarize).

Any file whose name has no dot (other than ``failed``) is read as a metric, so a later scorer
(e.g. a downstream-ASR WER) only has to drop its ``key value`` file next to the others.
Job outputs are merged with ``cat | sort``, so files are written sorted and atomically.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import yaml

from mal.io.atomic import atomic_open
from mal.io.scp import iter_scp_lines

PathLike = Union[str, os.PathLike]
FAILED = "failed"
SUMMARY = "summary.yaml"


class ScoresError(ValueError):
    """A malformed scores file; the message names the file and line."""


@dataclass
class Scores:
    """Per-utterance values of every metric of one system, and its failures."""

    values: Dict[str, Dict[str, float]] = field(default_factory=dict)  # metric -> key -> value
    failures: List[Tuple[str, str, str]] = field(default_factory=list)  # (key, metric, reason)

    @property
    def metrics(self) -> List[str]:
        return sorted(set(self.values) | {m for _, m, _ in self.failures})

    @property
    def keys(self) -> List[str]:
        keys = {k for table in self.values.values() for k in table} | {k for k, _, _ in self.failures}
        return sorted(keys)

    def failure_reasons(self, metric: str) -> Dict[str, str]:
        return {k: r for k, m, r in self.failures if m == metric}


def format_value(value: float) -> str:
    return f"{value:.6f}"


def write_scores(
    out_dir: PathLike,
    metrics: Sequence[str],
    scores: Mapping[str, Mapping[str, float]],
    failures: Mapping[str, Mapping[str, str]],
) -> None:
    """Write ``out_dir/<metric>`` for every metric (empty when none scored) and ``out_dir/failed``.

    ``scores`` and ``failures`` map utterance key -> metric -> value / reason.
    """
    out_dir = Path(out_dir)
    for metric in metrics:
        with atomic_open(out_dir / metric) as f:
            for key in sorted(scores):
                if metric in scores[key]:
                    f.write(f"{key} {format_value(scores[key][metric])}\n")
    with atomic_open(out_dir / FAILED) as f:
        for key in sorted(failures):
            for metric in sorted(failures[key]):
                reason = " ".join(failures[key][metric].split())
                f.write(f"{key} {metric} {reason}\n")


def is_metric_file(path: Path) -> bool:
    """Metric files: plain files without a dot in their name, other than ``failed``."""
    return path.is_file() and "." not in path.name and path.name != FAILED


def read_metric_file(path: PathLike) -> Dict[str, float]:
    values: Dict[str, float] = {}
    if Path(path).stat().st_size == 0:
        return values
    for lineno, key, value in iter_scp_lines(path):
        try:
            number = float(value)
        except ValueError:
            raise ScoresError(f"{path}:{lineno}: utterance '{key}': value {value!r} is not a number") from None
        if key in values:
            raise ScoresError(f"{path}:{lineno}: duplicate utterance '{key}'")
        values[key] = number
    return values


def read_failed(path: PathLike) -> List[Tuple[str, str, str]]:
    failures: List[Tuple[str, str, str]] = []
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        return failures
    for lineno, key, rest in iter_scp_lines(path):
        parts = rest.split(maxsplit=1)
        failures.append((key, parts[0], parts[1] if len(parts) > 1 else "unknown reason"))
    return failures


def read_scores_dir(directory: PathLike) -> Scores:
    """Every metric file and ``failed`` of a scores directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ScoresError(f"{directory}: scores directory not found")
    scores = Scores()
    for path in sorted(directory.iterdir()):
        if is_metric_file(path):
            scores.values[path.name] = read_metric_file(path)
    scores.failures = read_failed(directory / FAILED)
    return scores


def summarize(scores: Scores) -> Dict[str, Dict[str, Optional[float]]]:
    """Per metric: mean and std over the scored utterances, their count, and the failure count."""
    summary: Dict[str, Dict[str, Optional[float]]] = {}
    for metric in scores.metrics:
        values = list(scores.values.get(metric, {}).values())
        mean = math.fsum(values) / len(values) if values else None
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values)) if values else None
        summary[metric] = {
            "mean": mean,
            "std": std,
            "count": len(values),
            "failed": len(scores.failure_reasons(metric)),
        }
    return summary


def write_summary(directory: PathLike) -> Dict[str, object]:
    """Write ``directory/summary.yaml`` (atomically) and return its content."""
    scores = read_scores_dir(directory)
    content: Dict[str, object] = {
        "num_utterances": len(scores.keys),
        "num_failures": len(scores.failures),
        "metrics": summarize(scores),
    }
    with atomic_open(Path(directory) / SUMMARY) as f:
        yaml.safe_dump(content, f, sort_keys=False)
    return content


def load_summary(directory: PathLike) -> Dict[str, object]:
    with open(Path(directory) / SUMMARY, encoding="utf-8") as f:
        return yaml.safe_load(f)
