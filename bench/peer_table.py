#!/usr/bin/env python
"""The shipped model against every peer on every test set: one Markdown table.

    python -m bench.peer_table --data egs/mini_offline/data --out /tmp/peer_table \\
        [--sets test,test_ood,test_real,test_ambient,test_colored] [--peers rnnoise,nsnet2,dfn3,noisereduce]
        [--model NAME|FILE [--label LABEL]] [--gap-to dfn3] [--dnsmos-utts 25] [--asr-utts 0] [--nj 1]

Rows: the noisy input, the shipped model (default: mal's default shipped model, enhanced with
``mal.load()``'s defaults as ``mal-enhance`` does) and each peer (mal.enhance.peers, one
thread); ``--model`` also takes a model file (a checkpoint or packed archive, a candidate not
yet shipped), its row and cache named ``--label``. Columns, per test set: PESQ-WB, ESTOI and SI-SDR on every utterance, DNSMOS OVRL on the
first ``--dnsmos-utts`` of the sorted wav.scp, and WER (pocketsphinx, set level: total errors /
total words) where the set has a ``text`` file, on the first ``--asr-utts`` (0: all). A column's
means are over the utterances every system has a score for (counts under the table). The last
row: shipped model - best peer on that column (the peer with the best mean), the mean of the
per-utterance differences +- its standard error (WER: the difference of the set-level rates,
with the linearised standard error of that ratio); then the same paired difference to one named
peer on every column (``--gap-to``, default DeepFilterNet3 when it is among the peers). Sets without ``wav.scp`` under ``--data`` are
listed as missing. Everything is cached under ``OUT/<set>/<system>/`` (``wav/``, ``scores/``,
``asr/``): a re-run redoes only what is missing. ``--nj N`` runs N (set, system) jobs at once.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from bench.shipped_model import DNSMOS, INTRUSIVE, utterance_scores
from mal.enhance import Enhancer, enhance_scp
from mal.enhance.peers import build_peer, peer_names
from mal.io.scp import read_scp
from mal.models.shipped import DEFAULT_MODEL, SHIPPED_MODELS, resolve_model
from mal.score.summary import Scores, paired_delta, read_scores_dir, set_rate, write_scores

NOISY = "noisy"
WER = "wer"
METRICS = INTRUSIVE + (DNSMOS, WER)
TITLES = {"pesq_wb": "PESQ-WB", "estoi": "ESTOI", "sisdr": "SI-SDR dB", DNSMOS: "DNSMOS OVRL", WER: "WER %"}
DIGITS = {"pesq_wb": 3, "estoi": 3, "sisdr": 2, DNSMOS: 3, WER: 1}
DEFAULT_SETS = "test,test_ood,test_real,test_ambient,test_colored"
DEFAULT_PEERS = "rnnoise,nsnet2,dfn3,noisereduce"


@dataclass(frozen=True)
class Job:
    """One system on one test set: enhance (unless noisy), score, cache under ``out``."""

    data: Path
    out: Path
    system: str
    model: Optional[str]  # the shipped model's name; None for the noisy input and peers
    dnsmos_utts: int
    asr_utts: int


def estimates(job: Job) -> Dict[str, str]:
    """The system's wav.scp: the input for noisy, else enhanced into ``out`` (finished files reused)."""
    table = read_scp(job.data / "wav.scp")
    if job.system == NOISY:
        return table
    done = job.out / "wav.scp"
    if done.is_file() and set(read_scp(done)) == set(table):
        return read_scp(done)
    enhancer = Enhancer.from_checkpoint(resolve_model(job.model), device="cpu") if job.model else build_peer(job.system, 1)
    return enhance_scp(enhancer, job.data / "wav.scp", job.out, skip_existing=True)


def is_cached(directory: Path, metrics: Sequence[str], keys: Sequence[str]) -> bool:
    """Every metric file in ``directory`` covers exactly ``keys`` (scored or failed)."""
    if not all((directory / m).is_file() for m in metrics):
        return False
    scores = read_scores_dir(directory)
    return all(set(scores.values.get(m, {})) | set(scores.failure_reasons(m)) == set(keys) for m in metrics)


def asr_is_cached(directory: Path, keys: Sequence[str]) -> bool:
    return (directory / f"{WER}.counts").is_file() and set(read_scores_dir(directory).counts.get(WER, {})) == set(keys)


def run_job(job: Job) -> None:
    """Enhance and score one system on one set; cached parts are skipped."""
    import torch

    torch.set_num_threads(1)
    est = estimates(job)
    keys = sorted(est)
    name = str(job.out / "wav.scp") if job.system != NOISY else str(job.data / "wav.scp")
    groups = [("intrusive", INTRUSIVE, keys)]
    if job.dnsmos_utts > 0:
        groups.append(("dnsmos", (DNSMOS,), keys[: job.dnsmos_utts]))
    for group, metrics, subset in groups:
        directory = job.out / "scores" / group
        if not is_cached(directory, metrics, subset):
            scores, failures = utterance_scores(est, job.data, subset, metrics, name)
            directory.mkdir(parents=True, exist_ok=True)
            write_scores(directory, metrics, scores, failures)
    text = job.data / "text"
    asr_keys = keys[: job.asr_utts] if job.asr_utts > 0 else keys
    if text.is_file() and not asr_is_cached(job.out / "asr", asr_keys):
        from mal.asr import build_recognizer
        from mal.asr.scoring import transcribe_and_score, write_asr_scores
        from mal.asr.transcripts import read_transcripts

        results = list(transcribe_and_score(est, read_transcripts(text), build_recognizer("pocketsphinx"), asr_keys,
                                            est_name=name, text_name=str(text)))
        (job.out / "asr").mkdir(parents=True, exist_ok=True)
        write_asr_scores(job.out / "asr", results)


def load_scores(job: Job) -> Scores:
    """The job's cached scores merged into one :class:`Scores` (WER with its counts)."""
    merged = Scores()
    for directory in (job.out / "scores" / "intrusive", job.out / "scores" / "dnsmos", job.out / "asr"):
        if directory.is_dir():
            part = read_scores_dir(directory)
            merged.values.update({m: v for m, v in part.values.items() if m in METRICS})
            merged.counts.update({m: c for m, c in part.counts.items() if m == WER})
            merged.failures += part.failures
    return merged


# --- the table ------------------------------------------------------------------------------------


def has_metric(scores: Scores, metric: str) -> bool:
    return bool(scores.counts.get(metric) if metric == WER else scores.values.get(metric))


def common_keys(systems: Sequence[Scores], metric: str) -> List[str]:
    tables = [s.counts[metric] if metric == WER else s.values[metric] for s in systems]
    return sorted(set.intersection(*(set(t) for t in tables)))


def column_value(scores: Scores, metric: str, keys: Sequence[str]) -> float:
    """Mean over ``keys``; WER: the set-level rate over them."""
    if metric == WER:
        rate = set_rate({k: scores.counts[WER][k] for k in keys})
        return float("nan") if rate is None else rate
    return float(np.mean([scores.values[metric][k] for k in keys]))


def rate_difference(a: Scores, b: Scores, keys: Sequence[str]) -> Tuple[float, Optional[float]]:
    """WER(a) - WER(b) in points over ``keys`` (set-level rates, same reference words), and the
    linearised standard error of that ratio: sqrt(n / (n - 1) * sum (d_i - D * L_i)^2) / sum L_i."""
    errors = np.array([a.counts[WER][k][0] - b.counts[WER][k][0] for k in keys])
    lengths = np.array([a.counts[WER][k][1] for k in keys])
    total = lengths.sum()
    if total <= 0:
        return float("nan"), None
    diff = errors.sum() / total
    n = len(keys)
    se = math.sqrt(n / (n - 1) * np.sum((errors - diff * lengths) ** 2)) / total if n > 1 else None
    return 100.0 * diff, None if se is None else 100.0 * se


@dataclass
class Difference:
    """Shipped model - a peer (the best one, or the ``--gap-to`` one) on one set and metric."""

    test_set: str
    metric: str
    peer: str
    mean: float
    standard_error: Optional[float]
    utterances: int


def difference(test_set: str, metric: str, shipped: Scores, peer: str, other: Scores) -> Optional[Difference]:
    if metric == WER:
        keys = sorted(set(shipped.counts[WER]) & set(other.counts[WER]))
        if not keys:
            return None
        mean, se = rate_difference(shipped, other, keys)
        return Difference(test_set, metric, peer, mean, se, len(keys))
    wrap = lambda s: {"sets": {test_set: {"scores": s.values}}}  # noqa: E731 (paired_delta's shape)
    mean, se, n = paired_delta(wrap(shipped), wrap(other), test_set, metric)
    if mean is None:
        return None
    return Difference(test_set, metric, peer, mean, None if se is None or math.isnan(se) else se, n)


@dataclass
class Table:
    sets: List[str]
    systems: List[str]  # row labels' system names, noisy first, then the shipped model, then peers
    columns: List[Tuple[str, str]]  # (set, metric)
    values: Dict[Tuple[str, str, str], float]  # (set, metric, system) -> column value
    counts: Dict[Tuple[str, str], int]
    differences: Dict[Tuple[str, str], Difference]
    gap_peer: Optional[str] = None
    gaps: Dict[Tuple[str, str], Difference] = field(default_factory=dict)


def build_table(scores: Dict[Tuple[str, str], Scores], sets: Sequence[str], shipped: str, peers: Sequence[str],
                gap_peer: Optional[str] = None) -> Table:
    """Column values, shipped - best peer and shipped - ``gap_peer`` differences from every (set, system)'s scores."""
    systems = [NOISY, shipped, *peers]
    table = Table(list(sets), systems, [], {}, {}, {}, gap_peer if gap_peer in peers else None)
    for test_set in sets:
        for metric in METRICS:
            rows = [scores[(test_set, s)] for s in systems]
            if not all(has_metric(r, metric) for r in rows):
                continue
            keys = common_keys(rows, metric)
            if not keys:
                continue
            table.columns.append((test_set, metric))
            table.counts[(test_set, metric)] = len(keys)
            for system, row in zip(systems, rows):
                table.values[(test_set, metric, system)] = column_value(row, metric, keys)
            if table.gap_peer is not None:
                gap = difference(test_set, metric, scores[(test_set, shipped)], table.gap_peer, scores[(test_set, table.gap_peer)])
                if gap is not None:
                    table.gaps[(test_set, metric)] = gap
            if not peers:
                continue
            ranked = [p for p in peers if not math.isnan(table.values[(test_set, metric, p)])]
            if not ranked:
                continue
            sign = -1.0 if metric == WER else 1.0
            best = max(ranked, key=lambda p: sign * table.values[(test_set, metric, p)])
            found = difference(test_set, metric, scores[(test_set, shipped)], best, scores[(test_set, best)])
            if found is not None:
                table.differences[(test_set, metric)] = found
    return table


def render(table: Table, model: str, missing: Sequence[str], data: Path, shipped: bool = True) -> List[str]:
    head = ["system"] + [f"{s} {TITLES[m]}" for s, m in table.columns]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(table.columns)]
    labels = {NOISY: "noisy", model: f"mal {model} (shipped)" if shipped else f"mal {model}"}
    for system in table.systems:
        cells = [f"{table.values[(s, m, system)]:.{DIGITS[m]}f}" for s, m in table.columns]
        lines.append(f"| {labels.get(system, system)} | " + " | ".join(cells) + " |")
    name = "shipped" if shipped else model
    lines.append(f"| {name} - best peer | " + " | ".join(difference_cells(table.differences, table.columns)) + " |")
    if table.gap_peer is not None:
        lines.append(f"| {name} - {table.gap_peer} | " + " | ".join(difference_cells(table.gaps, table.columns, named=False)) + " |")
    lines.append("")
    for s in table.sets:
        parts = [f"{TITLES[m]} {table.counts[(s, m)]}" for t, m in table.columns if t == s]
        lines.append(f"- {s}: utterances per column: {', '.join(parts) or 'none'}")
    if missing:
        lines.append(f"- missing under {data}: {', '.join(missing)} (no wav.scp)")
    return lines


def difference_cells(differences: Dict[Tuple[str, str], Difference], columns: Sequence[Tuple[str, str]],
                     named: bool = True) -> List[str]:
    """``mean +- s.e. (peer)`` per column, ``-`` where there is none."""
    cells = []
    for s, m in columns:
        d = differences.get((s, m))
        if d is None:
            cells.append("-")
            continue
        se = "" if d.standard_error is None else f" +- {d.standard_error:.{DIGITS[m]}f}"
        cells.append(f"{d.mean:+.{DIGITS[m]}f}{se}" + (f" ({d.peer})" if named else ""))
    return cells


# --- command line ---------------------------------------------------------------------------------


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="directory of the recipe's <set>/ data dirs")
    p.add_argument("--out", type=Path, required=True, help="cache: OUT/<set>/<system>/ (reused on a re-run)")
    p.add_argument("--sets", default=DEFAULT_SETS)
    p.add_argument("--peers", default=DEFAULT_PEERS, help=f"comma-separated, from: {', '.join(peer_names())}")
    p.add_argument("--model", default=None, help="a shipped model's name or a model file (default: the default model)")
    p.add_argument("--label", default=None, help="a model file's row and cache name (default: its folder and file name)")
    p.add_argument("--gap-to", default="dfn3", help="a peer whose paired difference to the model gets its own row "
                   "on every column ('' or a peer not in --peers: none)")
    p.add_argument("--dnsmos-utts", type=int, default=25, help="DNSMOS OVRL on the first N utterances (0: none)")
    p.add_argument("--asr-utts", type=int, default=0, help="WER on the first N utterances of sets with a text file (0: all)")
    p.add_argument("--nj", type=int, default=1, help="(set, system) jobs run at once")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    shipped = args.model or DEFAULT_MODEL
    model_file = shipped is not None and shipped not in SHIPPED_MODELS and Path(shipped).is_file()
    if shipped is None or not (model_file or shipped in SHIPPED_MODELS):
        print(f"peer_table: --model: no shipped model and no file '{shipped}' (shipped: {', '.join(SHIPPED_MODELS) or 'none'})",
              file=sys.stderr)
        return 1
    model = shipped
    if model_file:
        shipped = args.label or f"{Path(model).parent.name}_{Path(model).stem}"
    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in peer_names()]
    if unknown or args.nj < 1 or args.dnsmos_utts < 0 or args.asr_utts < 0:
        what = f"--peers: unknown {', '.join(unknown)} (choose from {', '.join(peer_names())})" if unknown else \
            "--nj must be >= 1, --dnsmos-utts and --asr-utts >= 0"
        print(f"peer_table: {what}", file=sys.stderr)
        return 1
    sets = [s for s in args.sets.split(",") if s]
    present = [s for s in sets if (args.data / s / "wav.scp").is_file()]
    missing = [s for s in sets if s not in present]
    jobs = {(s, system): Job(args.data / s, args.out / s / system, system, model if system == shipped else None,
                             args.dnsmos_utts, args.asr_utts)
            for s in present for system in [NOISY, shipped, *peers]}
    try:
        if args.nj > 1:
            with ProcessPoolExecutor(args.nj, mp_context=multiprocessing.get_context("spawn")) as pool:
                list(pool.map(run_job, jobs.values()))
        else:
            for job in jobs.values():
                run_job(job)
        scores = {key: load_scores(job) for key, job in jobs.items()}
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"peer_table: error: {message}", file=sys.stderr)
        return 1
    table = build_table(scores, present, shipped, peers, args.gap_to or None)
    print("\n".join(render(table, shipped, missing, args.data, shipped=not model_file)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
