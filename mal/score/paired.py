"""Paired differences between systems trained in pairs (e.g. MAL and continued, one pair per seed).

Per pair and metric, the difference is taken utterance by utterance on the utterances both
systems have (an error rate with ``.counts``: total errors / total length of each system on
those utterances); the pairs' differences are then summarised as mean +- standard error over
the pairs, so the spread across seeds is what the error bar shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from mal.score.results_md import TestSetResults
from mal.score.summary import Scores

#: Metrics shown in the paired table, where both systems have them.
PAIRED_METRICS = ("pesq_wb", "estoi", "sisdr", "dnsmos_ovrl", "wer")


@dataclass
class PairedDifference:
    """One test set and metric: each pair's difference (first minus second system) and their summary."""

    test_set: str
    metric: str
    per_pair: List[float]
    utterances: int

    @property
    def mean(self) -> float:
        return sum(self.per_pair) / len(self.per_pair)

    @property
    def standard_error(self) -> Optional[float]:
        n = len(self.per_pair)
        if n < 2:
            return None
        var = sum((d - self.mean) ** 2 for d in self.per_pair) / (n - 1)
        return math.sqrt(var / n)


def parse_pairs(text: str) -> List[Tuple[str, str]]:
    """``"a=b c=d"`` (spaces or commas) -> [(a, b), (c, d)]; a malformed item is a ValueError naming it."""
    pairs = []
    for item in text.replace(",", " ").split():
        first, sep, second = item.partition("=")
        if not sep or not first or not second or first == second:
            raise ValueError(f"--paired: '{item}' is not 'system=reference' (two different system names)")
        pairs.append((first, second))
    return pairs


def _difference(a: Scores, b: Scores, metric: str) -> Optional[Tuple[float, int]]:
    """Mean per-utterance difference a - b on their common keys (rates: set-level), with the count."""
    if metric in a.counts and metric in b.counts:
        keys = sorted(set(a.counts[metric]) & set(b.counts[metric]))
        if not keys:
            return None
        rates = []
        for scores in (a, b):
            errors = sum(scores.counts[metric][k][0] for k in keys)
            length = sum(scores.counts[metric][k][1] for k in keys)
            if length <= 0:
                return None
            rates.append(100.0 * errors / length)
        return rates[0] - rates[1], len(keys)
    va, vb = a.values.get(metric), b.values.get(metric)
    if not va or not vb:
        return None
    keys = sorted(set(va) & set(vb))
    if not keys:
        return None
    return sum(va[k] - vb[k] for k in keys) / len(keys), len(keys)


def paired_differences(results: Sequence[TestSetResults], pairs: Sequence[Tuple[str, str]]) -> List[PairedDifference]:
    """Every (test set, metric) on which all pairs can be compared; a pair's system missing from
    a test set is a ValueError naming both."""
    out = []
    for test_set in results:
        for first, second in pairs:
            for name in (first, second):
                if name not in test_set.systems:
                    raise ValueError(f"--paired {first}={second}: no scores of '{name}' for test set '{test_set.name}'")
        for metric in PAIRED_METRICS:
            diffs = [_difference(test_set.systems[a], test_set.systems[b], metric) for a, b in pairs]
            if all(d is not None for d in diffs):
                out.append(PairedDifference(test_set.name, metric, [d[0] for d in diffs], min(d[1] for d in diffs)))
    return out


def render_paired(differences: Sequence[PairedDifference], pairs: Sequence[Tuple[str, str]]) -> List[str]:
    """Markdown lines: one row per test set, one column per metric, ``mean +- s.e.`` and each pair's value."""
    if not differences:
        return []
    metrics = [m for m in PAIRED_METRICS if any(d.metric == m for d in differences)]
    sets = list(dict.fromkeys(d.test_set for d in differences))
    by_key = {(d.test_set, d.metric): d for d in differences}
    names = ", ".join(f"`{a}` - `{b}`" for a, b in pairs)
    lines = ["", "## Paired differences", "",
             f"Per pair ({names}): the mean over the utterances both systems have of the per-utterance difference "
             f"(WER: difference of the set-level rates, in points); then mean +- standard error over the "
             f"{len(pairs)} pairs, each pair's value in brackets. Positive is better for every metric but WER.", "",
             "|test set|n|" + "|".join(metrics) + "|", "|---|---|" + "|".join("---" for _ in metrics) + "|"]
    for name in sets:
        row = [by_key.get((name, metric)) for metric in metrics]
        n = max(d.utterances for d in row if d is not None)
        cells = []
        for d in row:
            if d is None:
                cells.append("-")
                continue
            se = d.standard_error
            spread = f" +- {se:.3f}" if se is not None else ""
            subset = f" n={d.utterances}" if d.utterances < n else ""
            cells.append(f"{d.mean:+.3f}{spread} ({', '.join(f'{v:+.3f}' for v in d.per_pair)}){subset}")
        lines.append(f"|{name}|{n}|" + "|".join(cells) + "|")
    return lines
