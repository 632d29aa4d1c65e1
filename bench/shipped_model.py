#!/usr/bin/env python
"""Re-score a shipped model on a recipe's test sets and compare with its model card's numbers.

    python -m bench.shipped_model --data egs/mini_offline/data --out /tmp/shipped \\
        [--model NAME] [--sets valid,test,test_ood,test_real] [--dnsmos-utts 25] [--record] [--card-scores JSON]

The model (default: mal's default shipped model) enhances every utterance of each set with
``mal.load()``'s defaults, as ``mal-enhance`` would; PESQ-WB, ESTOI and SI-SDR are scored on
all of them, DNSMOS OVRL on the first ``--dnsmos-utts`` of the sorted wav.scp (as the recipe's
``--dnsmos_max_utts``). The card's numbers live next to the archive in
``mal/pretrained/<name>.scores.json``; the table shows them, the re-scored means and the
difference, and the exit status is 1 when a difference exceeds ``--tolerance``. ``--record``
writes the re-scored means as the card's numbers instead (done once, when the model ships).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mal.enhance import Enhancer, enhance_scp
from mal.io.atomic import atomic_open
from mal.io.scp import read_scp
from mal.models.shipped import DEFAULT_MODEL, PACKAGE_DIR, SHIPPED_MODELS, resolve_model
from mal.score.metrics import needs_reference, score_tables

INTRUSIVE = ("pesq_wb", "estoi", "sisdr")
DNSMOS = "dnsmos_ovrl"


def card_scores_path(name: str) -> Path:
    """``mal/pretrained/<name>.scores.json``, next to the shipped archive."""
    return (PACKAGE_DIR / SHIPPED_MODELS[name].file).with_name(f"{name}.scores.json")


def utterance_scores(
    estimates: Dict[str, str], data: Path, keys: Sequence[str], metrics: Sequence[str], est_name: str
) -> Tuple[Dict[str, Dict[str, float]], Dict[str, Dict[str, str]]]:
    """Scores of ``keys`` (key -> metric -> value) against ``data/spk1.scp`` where the metrics need
    it, and the failures (key -> metric -> reason): the shapes :func:`write_scores` takes."""
    refs = read_scp(data / "spk1.scp") if needs_reference(metrics) else None
    scores: Dict[str, Dict[str, float]] = {}
    failures: Dict[str, Dict[str, str]] = {}
    for key, values, failed in score_tables(estimates, metrics, refs, keys, est_name=est_name, ref_name=str(data / "spk1.scp")):
        scores[key] = values
        if failed:
            failures[key] = failed
    return scores, failures


def score_set(model_name: str, data: Path, out: Path, dnsmos_utts: int) -> Dict[str, Dict[str, float]]:
    """Means (and counts) of each metric of the model on one data dir."""
    enhancer = Enhancer.from_checkpoint(resolve_model(model_name), device="cpu")
    estimates = enhance_scp(enhancer, data / "wav.scp", out, skip_existing=True)
    keys = sorted(estimates)
    runs = [(INTRUSIVE, keys)]
    if dnsmos_utts > 0:
        runs.append(((DNSMOS,), keys[:dnsmos_utts]))
    values: Dict[str, List[float]] = {}
    for metrics, subset in runs:
        scores, _ = utterance_scores(estimates, data, subset, metrics, str(out / "wav.scp"))
        for key in subset:
            for metric, value in scores.get(key, {}).items():
                values.setdefault(metric, []).append(value)
    return {m: {"mean": float(np.mean(v)), "n": len(v)} for m, v in values.items()}


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="directory of the recipe's <set>/ data dirs")
    p.add_argument("--out", type=Path, required=True, help="enhanced audio goes to OUT/<set>/ (reused on a re-run)")
    p.add_argument("--model", default=None, help="a shipped model's name (default: the default model)")
    p.add_argument("--sets", default="valid,test,test_ood,test_real")
    p.add_argument("--dnsmos-utts", type=int, default=25)
    p.add_argument("--tolerance", type=float, default=0.005, help="largest |re-scored - card| accepted")
    p.add_argument("--record", action="store_true", help="write the re-scored means as the card's numbers")
    p.add_argument("--card-scores", type=Path, default=None, help="the card's numbers (default: mal/pretrained/<name>.scores.json)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    name = args.model or DEFAULT_MODEL
    if name is None or name not in SHIPPED_MODELS:
        print(f"shipped_model: no shipped model '{name}' (shipped: {', '.join(SHIPPED_MODELS) or 'none'})", file=sys.stderr)
        return 1
    sets = [s for s in args.sets.split(",") if s]
    now = {s: score_set(name, args.data / s, args.out / s, args.dnsmos_utts) for s in sets}
    card_path = args.card_scores or card_scores_path(name)
    if args.record:
        with atomic_open(card_path, "w") as f:
            json.dump(now, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {card_path}")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    worst = 0.0
    print(f"model {name}\n\n| set | metric | n | card | re-scored | difference |\n|---|---|---:|---:|---:|---:|")
    for s in sets:
        for metric, value in now[s].items():
            ref = card.get(s, {}).get(metric)
            diff = None if ref is None else value["mean"] - ref["mean"]
            worst = max(worst, abs(diff)) if diff is not None else float("inf")
            ref_text = "-" if ref is None else f"{ref['mean']:.3f}"
            diff_text = "-" if diff is None else f"{diff:+.4f}"
            print(f"| {s} | {metric} | {value['n']} | {ref_text} | {value['mean']:.3f} | {diff_text} |")
    ok = worst <= args.tolerance
    print(f"\nlargest difference {worst:.4f}: {'within' if ok else 'OUTSIDE'} the tolerance {args.tolerance}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
