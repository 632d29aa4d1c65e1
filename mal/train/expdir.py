"""The experiment directory ``mal-train`` writes, and the kept-best list that decides its epoch files."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple, Union

from mal.io.atomic import atomic_open


def metric_mode(name: str) -> str:
    """SI-SDR-like metrics are maximised, losses minimised."""
    return "max" if name.endswith("sisdr") or name.endswith("sisdri") else "min"


def update_best(best: List[List[float]], epoch: int, value: float, keep: int, mode: str) -> Tuple[List[List[float]], bool]:
    """Insert ``[epoch, value]``, keep the ``keep`` best (ties: earlier epoch); -> (new list, kept?)."""
    worst = math.inf if mode == "min" else -math.inf
    score = value if math.isfinite(value) else worst

    def key(item: List[float]) -> Tuple[float, float]:
        v = item[1] if math.isfinite(item[1]) else worst
        return (v if mode == "min" else -v, item[0])

    new = sorted([b for b in best if int(b[0]) != epoch] + [[epoch, score]], key=key)[:keep]
    return new, any(int(b[0]) == epoch for b in new)


class ExpDir:
    """Names of the files ``mal-train`` writes in its output directory."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.checkpoint = self.path / "checkpoint.pth"
        self.model = self.path / "model.pth"
        self.config = self.path / "config.yaml"
        self.log_csv = self.path / "log.csv"
        self.train_log = self.path / "train.log"

    def epoch(self, n: int) -> Path:
        return self.path / f"epoch{n}.pth"

    def epoch_files(self) -> Dict[int, Path]:
        found = {}
        for p in self.path.glob("epoch*.pth"):
            digits = p.stem[len("epoch"):]
            if digits.isdigit():
                found[int(digits)] = p
        return found

    def remove_stale(self, keep_epochs: Iterable[int]) -> None:
        """Delete epoch files outside the best list and temporary files left by a killed run."""
        keep = {int(e) for e in keep_epochs}
        for n, p in self.epoch_files().items():
            if n not in keep:
                p.unlink(missing_ok=True)
        names = ("checkpoint.pth", "model.pth", "config.yaml", "log.csv", "epoch")
        for p in self.path.glob(".*.tmp*"):
            if p.name[1:].startswith(names):
                p.unlink(missing_ok=True)


def write_log_csv(path: Path, history: List[Dict[str, Any]]) -> None:
    """One row per epoch; columns are the union of all rows' keys, in first-seen order."""
    columns: List[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
