"""The ablation's report: table rows, selection on valid, ablation.md / .csv / .png."""
from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.ablation.runner import Context, read_json
from bench.ablation.sweep import DEEP_FEATURE, DNSMOS_METRIC, MAIN_WARMUP, REPORT_METRICS, SEED_GROUP, Sweep
from mal.io.atomic import atomic_open, atomic_path
from mal.score.summary import mean_of, paired_delta

logger = logging.getLogger("mal.bench.ablation")


def select_branch(results: Mapping[str, Mapping[str, Any]], candidates: Sequence[str], set_name: str = "valid") -> Optional[str]:
    """The candidate with the highest ``set_name`` PESQ-WB gain over its reference, ties by ESTOI gain.

    Only ``set_name`` scores are read: the selection never looks at a test set. A candidate is
    ranked only once its reference run has finished: gains are compared, never absolute scores.
    """
    def reference(name: str) -> Optional[Mapping[str, Any]]:
        return results.get(results[name].get("reference") or "")

    def score(name: str) -> Tuple[float, float]:
        ref = reference(name)
        assert ref is not None
        values = (paired_delta(results[name], ref, set_name, "pesq_wb")[0], paired_delta(results[name], ref, set_name, "estoi")[0])
        return tuple(-math.inf if v is None else round(v, 4) for v in values)  # type: ignore[return-value]

    ranked = [n for n in candidates if n in results and set_name in results[n]["sets"] and reference(n) is not None]
    return max(ranked, key=score) if ranked else None


def table_rows(sweep: Sweep, results: Mapping[str, Mapping[str, Any]], sets: Sequence[str]) -> List[Dict[str, Any]]:
    """Long format: one row per (system, set) with means and paired deltas vs the reference."""
    rows = []
    for b in sweep.rows:
        if b.name not in results:
            continue
        result = results[b.name]
        ref = results.get(b.reference or "")
        for s in sets:
            if s not in result["sets"]:
                continue
            row: Dict[str, Any] = {"system": b.name, "kind": b.kind, "group": b.group, "reference": b.reference or "", "set": s,
                                   "train_seconds": result.get("train_seconds")}
            for m in REPORT_METRICS:
                row[m] = mean_of(result, s, m)
                row[f"n_{m}"] = len(result["sets"][s]["scores"].get(m, {}))
                d, se, _ = paired_delta(result, ref, s, m) if ref is not None and b.name != b.reference else (None, None, 0)
                row[f"d_{m}"], row[f"se_d_{m}"] = d, se
            rows.append(row)
    return rows


def fmt(value: Optional[float], digits: int = 2, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


DIGITS = {"pesq_wb": 2, "estoi": 3, "sisdr": 1, DNSMOS_METRIC: 2}
LABELS = {"pesq_wb": "PESQ-WB", "estoi": "ESTOI", "sisdr": "SI-SDR", DNSMOS_METRIC: "DNSMOS"}


def markdown_table(sweep: Sweep, results: Mapping[str, Mapping[str, Any]], sets: Sequence[str], selected: Optional[str]) -> str:
    """Per set: PESQ-WB, ESTOI, SI-SDR, DNSMOS OVRL as ``value (delta vs reference)``."""
    by_key = {(r["system"], r["set"]): r for r in table_rows(sweep, results, sets)}
    head = ["group", "system", "vs"] + [f"{s} {LABELS[m]}" for s in sets for m in REPORT_METRICS] + ["fine-tune s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for b in sweep.rows:
        if b.name not in results:
            continue
        name = f"**{b.name}** (selected)" if b.name == selected else b.name
        cells = [b.group, name, b.reference if b.name != b.reference and b.reference else ""]
        for s in sets:
            row = by_key.get((b.name, s))
            for m in REPORT_METRICS:
                if row is None or row[m] is None:
                    cells.append("-")
                    continue
                cell = fmt(row[m], DIGITS[m])
                if row[f"d_{m}"] is not None:
                    cell += f" ({fmt(row[f'd_{m}'], DIGITS[m], signed=True)})"
                cells.append(cell)
        seconds = results[b.name].get("train_seconds")
        cells.append(f"{seconds:.0f}" if seconds else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: List[Dict[str, Any]]) -> None:
    columns = list(rows[0]) if rows else ["system", "set"]
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v)) for k, v in row.items()})


def write_plot(path: Path, sweep: Sweep, results: Mapping[str, Mapping[str, Any]], sets: Sequence[str], selected: Optional[str]) -> None:
    """Bars: PESQ-WB gain over the reference per system and set, with paired standard errors."""
    systems = [b for b in sweep.rows if b.name in results and b.kind != "noisy" and b.reference and b.name != b.reference]
    fig = Figure(figsize=(max(6.0, 0.55 * len(systems) * len(sets) / 2 + 2), 4.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    width = 0.8 / max(1, len(sets))
    x = np.arange(len(systems))
    for i, s in enumerate(sets):
        deltas, errors = [], []
        for b in systems:
            d, se, _ = paired_delta(results[b.name], results[b.reference], s, "pesq_wb") if b.reference in results else (None, None, 0)
            deltas.append(np.nan if d is None else d)
            errors.append(0.0 if se is None or not math.isfinite(se) else se)
        ax.bar(x + (i - (len(sets) - 1) / 2) * width, deltas, width, yerr=errors, capsize=2, label=s)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{b.name}*" if b.name == selected else b.name for b in systems], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("PESQ-WB minus reference (continued)\n± paired standard error")
    ax.set_title(f"MAL ablation: {sweep.steps} fine-tuning steps per branch (* = selected on valid)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def seed_summary(sweep: Sweep, results: Mapping[str, Mapping[str, Any]], sets: Sequence[str]) -> str:
    """The base branch's gain over its reference once per seed (the base and the ``seed`` rows),
    with the mean and the standard deviation over seeds: how much of a gain is run-to-run noise."""
    pairs = [(b.name, b.reference) for b in sweep.rows
             if b.kind == "branch" and b.group in ("base", SEED_GROUP) and b.name in results and b.reference in results]
    if len(pairs) < 2:
        return ""
    lines = [f"\nSeeds (fine-tuning data order): gain of each run over the reference run of the same seed; "
             f"mean ± standard deviation over the {len(pairs)} seeds.\n",
             "| run | vs | " + " | ".join(f"{s} {LABELS[m]}" for s in sets for m in ("pesq_wb", "estoi", "sisdr")) + " |",
             "|---|---|" + "---:|" * (3 * len(sets))]
    deltas: Dict[Tuple[str, str], List[float]] = {}
    for name, ref in pairs:
        cells = []
        for s in sets:
            for m in ("pesq_wb", "estoi", "sisdr"):
                d = paired_delta(results[name], results[ref], s, m)[0]
                cells.append(fmt(d, DIGITS[m] + 1, signed=True))
                if d is not None:
                    deltas.setdefault((s, m), []).append(d)
        lines.append(f"| {name} | {ref} | " + " | ".join(cells) + " |")
    cells = []
    for s in sets:
        for m in ("pesq_wb", "estoi", "sisdr"):
            values = deltas.get((s, m), [])
            sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
            cells.append(f"{fmt(float(np.mean(values)) if values else None, DIGITS[m] + 1, signed=True)} ± {fmt(sd, DIGITS[m] + 1)}")
    lines.append("| mean ± sd | | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(ctx: Context) -> Optional[str]:
    """ablation.md / .csv / .png from every cached row of the sweep; returns the selected branch."""
    results = {b.name: r for b in ctx.sweep.rows if (r := read_json(ctx.out / "branches" / b.name / "result.json")) is not None}
    if not results:
        logger.warning("no finished rows in %s: nothing to report", ctx.out)
        return None
    candidates = [b.name for b in ctx.sweep.rows if b.kind == "branch" and b.group != SEED_GROUP]
    selected = select_branch(results, candidates, "valid")
    sets = [s for s in ctx.sets if any(s in r["sets"] for r in results.values())]
    write_csv(ctx.out / "ablation.csv", table_rows(ctx.sweep, results, sets))
    write_plot(ctx.out / "ablation.png", ctx.sweep, results, sets, selected)
    missing = [b.name for b in ctx.sweep.rows if b.name not in results]
    text = io.StringIO()
    text.write(f"# Model-as-Loss ablation\n\nSweep `{ctx.sweep.path}`; warm-up `{ctx.sweep.warmups[MAIN_WARMUP].model}`; "
               f"{ctx.sweep.steps} fine-tuning steps per branch, seed {ctx.sweep.seed}. Scores: mean over "
               f"{', '.join(f'{s} n={len(ctx.eval_keys.get(s, []))}' for s in sets)} utterances (DNSMOS OVRL on "
               f"{ctx.args.dnsmos_utts}); in brackets the paired difference to the row named in `vs`.\n\n")
    if selected:
        r = results[selected]
        ref = results.get(r.get("reference") or "")
        text.write(f"Selected on valid (PESQ-WB gain over its reference, ties by ESTOI): **{selected}**.\n")
        others = [r.get("reference"), DEEP_FEATURE] if ref is not None else [DEEP_FEATURE]
        for other in dict.fromkeys(o for o in others if o in results and o != selected):
            for metric in ("pesq_wb", "estoi"):
                parts = []
                for s in sets:
                    d, se, n = paired_delta(r, results[other], s, metric)
                    if d is not None:
                        k = 3 if metric == "pesq_wb" else 4
                        parts.append(f"{s} {d:+.{k}f} ± {se:.{k}f} (n={n})")
                text.write(f"- {LABELS[metric]} minus {other} (paired mean ± standard error): " + ", ".join(parts) + "\n")
        text.write("\n")
    text.write(markdown_table(ctx.sweep, results, sets, selected))
    branches = [b for b in ctx.sweep.rows if b.kind == "branch" and b.group != SEED_GROUP]
    base = [b.name for b in branches if b.group == "base"]  # the level every one-factor group varies from
    groups = sorted({b.group for b in branches if b.name in results} - {"base"})
    best = [(g, select_branch(results, base + [b.name for b in branches if b.group == g], "valid")) for g in groups]
    best = [(g, n) for g, n in best if n]
    if best:
        with_base = f" (each group with the base branch {', '.join(base)})" if base else ""
        text.write(f"\nBest of each group on valid{with_base}: " + ", ".join(f"{g}: {n}" for g, n in best) + ".\n")
    text.write(seed_summary(ctx.sweep, results, sets))
    if missing:
        text.write(f"\nNot run yet: {', '.join(missing)}.\n")
    with atomic_open(ctx.out / "ablation.md", "w") as f:
        f.write(text.getvalue())
    return selected
