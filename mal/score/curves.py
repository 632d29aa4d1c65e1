"""Training curves: a PNG per system from its ``log.csv`` (one row per epoch, written by mal-train).

Left panel: training and validation loss against the optimiser step (the epoch when a log has
no step column); right panel: validation SI-SDR improvement (or SI-SDR) when logged.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Dict, List, Union

from mal.io.atomic import atomic_path

PathLike = Union[str, os.PathLike]
LOSSES = ("train_loss", "valid_loss")
QUALITY = ("valid_sisdri", "valid_sisdr")


class CurveError(ValueError):
    """A log.csv that cannot be plotted."""


def read_log_csv(path: PathLike) -> Dict[str, List[float]]:
    """Numeric columns of ``log.csv`` (empty cells and non-numbers dropped per column)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CurveError(f"{path}: cannot read: {e}") from None
    columns: Dict[str, List[float]] = {}
    for row in rows:
        for name, value in row.items():
            try:
                columns.setdefault(name, []).append(float(value))
            except (TypeError, ValueError):
                columns.setdefault(name, []).append(float("nan"))
    return columns


def plot_training_curves(log_csv: PathLike, out_png: PathLike, title: str = "", dpi: int = 72) -> Path:
    """Write ``out_png`` with the loss (and validation quality) curves of ``log_csv``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = read_log_csv(log_csv)
    losses = [c for c in LOSSES if c in columns]
    if not losses:
        raise CurveError(f"{log_csv}: no {' or '.join(LOSSES)} column to plot")
    x_name = "step" if "step" in columns else "epoch"
    x = columns.get(x_name) or list(range(1, len(columns[losses[0]]) + 1))
    quality = next((c for c in QUALITY if c in columns), None)
    fig = Figure(figsize=(8.0 if quality else 4.4, 3.0), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if quality else 1, squeeze=False)[0]
    for name in losses:
        axes[0].plot(x, columns[name], marker="o", markersize=3, label=name)
    axes[0].set_xlabel(x_name)
    axes[0].set_ylabel("loss")
    axes[0].legend(fontsize=8)
    if quality:
        axes[1].plot(x, columns[quality], marker="o", markersize=3, color="tab:green")
        axes[1].set_xlabel(x_name)
        axes[1].set_ylabel(f"{quality} (dB)")
    if title:
        fig.suptitle(title, fontsize=11)
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
    return out_png
