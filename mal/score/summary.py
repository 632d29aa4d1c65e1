"""Kaldi-style score directories: one ``key value`` file per metric plus ``failed``; summaries.

A scores directory (``exp/scores/<test_set>/<system>/``) holds:

- ``<metric>``: ``key value`` lines, one per utterance that the metric scored;
- ``failed``: ``key metric reason`` lines (possibly empty), never averaged; other scorers may
  add their own ``<name>.failed`` files of the same format (mal-asr-score: ``asr.failed``);
- ``<metric>.counts`` (optional): ``key errors length`` lines. A metric with such a file is an
  error rate in % (e.g. ``wer``: errors / reference words) and its set-level value is
  ``100 * sum(errors) / sum(length)`` over the file, not the mean of the per-utterance values;
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

import numpy as np
import yaml

from mal.io.atomic import atomic_open
from mal.io.scp import iter_scp_lines

PathLike = Union[str, os.PathLike]
FAILED = "failed"
FAILED_SUFFIX = ".failed"
COUNTS_SUFFIX = ".counts"
SUMMARY = "summary.yaml"
MEAN = "mean"
TOTAL_RATIO = "100*sum(errors)/sum(length)"


class ScoresError(ValueError):
    """A malformed scores file; the message names the file and line."""


@dataclass
class Scores:
    """Per-utterance values of every metric of one system, and its failures."""

    values: Dict[str, Dict[str, float]] = field(default_factory=dict)  # metric -> key -> value
    failures: List[Tuple[str, str, str]] = field(default_factory=list)  # (key, metric, reason)
    counts: Dict[str, Dict[str, Tuple[float, float]]] = field(default_factory=dict)  # metric -> key -> (errors, length)

    @property
    def metrics(self) -> List[str]:
        return sorted(set(self.values) | set(self.counts) | {m for _, m, _ in self.failures})

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


def read_counts_file(path: PathLike) -> Dict[str, Tuple[float, float]]:
    """``key errors length`` lines of a ``<metric>.counts`` file."""
    counts: Dict[str, Tuple[float, float]] = {}
    if Path(path).stat().st_size == 0:
        return counts
    for lineno, key, rest in iter_scp_lines(path):
        parts = rest.split()
        try:
            errors, length = (float(p) for p in parts)
        except ValueError:
            raise ScoresError(f"{path}:{lineno}: utterance '{key}': expected 'key errors length', got {rest!r}") from None
        if errors < 0 or length < 0:
            raise ScoresError(f"{path}:{lineno}: utterance '{key}': negative count in {rest!r}")
        if key in counts:
            raise ScoresError(f"{path}:{lineno}: duplicate utterance '{key}'")
        counts[key] = (errors, length)
    return counts


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
    failed_files = [directory / FAILED]
    for path in sorted(directory.iterdir()):
        if is_metric_file(path):
            scores.values[path.name] = read_metric_file(path)
        elif path.is_file() and path.name.endswith(COUNTS_SUFFIX) and "." not in path.name[: -len(COUNTS_SUFFIX)]:
            scores.counts[path.name[: -len(COUNTS_SUFFIX)]] = read_counts_file(path)
        elif path.is_file() and path.name.endswith(FAILED_SUFFIX):
            failed_files.append(path)
    scores.failures = [f for path in failed_files for f in read_failed(path)]
    return scores


def set_rate(counts: Mapping[str, Tuple[float, float]]) -> Optional[float]:
    """``100 * total errors / total length`` (None when the total length is 0)."""
    length = math.fsum(n for _, n in counts.values())
    return 100.0 * math.fsum(e for e, _ in counts.values()) / length if length else None


def summarize(scores: Scores) -> Dict[str, Dict[str, object]]:
    """Per metric: the set-level ``value``, how it was aggregated, mean and std over the scored
    utterances, their count, and the failure count.

    ``value`` is the mean, except for metrics with a ``<metric>.counts`` file, where it is
    ``100 * total errors / total length`` (then ``errors`` and ``length`` are given too).
    """
    summary: Dict[str, Dict[str, object]] = {}
    for metric in scores.metrics:
        values = list(scores.values.get(metric, {}).values())
        mean = math.fsum(values) / len(values) if values else None
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values)) if values else None
        entry: Dict[str, object] = {"value": mean, "aggregate": MEAN}
        if metric in scores.counts:
            counts = scores.counts[metric]
            entry = {
                "value": set_rate(counts),
                "aggregate": TOTAL_RATIO,
                "errors": math.fsum(e for e, _ in counts.values()),
                "length": math.fsum(n for _, n in counts.values()),
            }
        entry.update({"mean": mean, "std": std, "count": len(values), "failed": len(scores.failure_reasons(metric))})
        summary[metric] = entry
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


def mean_of(result: Mapping[str, object], set_name: str, metric: str) -> Optional[float]:
    """Mean of ``result["sets"][set_name]["scores"][metric]`` (``{key: value}``); None when empty."""
    values = list(result["sets"].get(set_name, {}).get("scores", {}).get(metric, {}).values())  # type: ignore[union-attr]
    return float(np.mean(values)) if values else None


def paired_delta(result: Mapping[str, object], reference: Mapping[str, object], set_name: str,
                 metric: str) -> Tuple[Optional[float], Optional[float], int]:
    """Mean and standard error of (result - reference) over the utterances both have; n.

    Both are ``{"sets": {set: {"scores": {metric: {key: value}}}}}``.
    """
    a = result["sets"].get(set_name, {}).get("scores", {}).get(metric, {})  # type: ignore[union-attr]
    b = reference["sets"].get(set_name, {}).get("scores", {}).get(metric, {})  # type: ignore[union-attr]
    common = [k for k in a if k in b]
    if not common:
        return None, None, 0
    diffs = np.array([a[k] - b[k] for k in common])
    se = float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
    return float(diffs.mean()), se, len(diffs)
