"""Optional TensorBoard logging of a training run (``mal-train --tensorboard``).

Writes ``OUT_DIR/tensorboard/``: every logged step's loss terms and learning rate under
``train/``, and each epoch's log.csv row (train and valid means) under ``epoch/``, both against
the optimiser step. TensorBoard is an extra (``pip install 'mal[tensorboard]'``), imported only here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Union

PathLike = Union[str, os.PathLike]


class TensorBoardUnavailable(RuntimeError):
    """The tensorboard package is not installed."""


class TensorBoardLog:
    """A SummaryWriter on ``log_dir`` with the two kinds of records mal-train makes."""

    def __init__(self, log_dir: PathLike):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TensorBoardUnavailable("--tensorboard needs the tensorboard package: pip install 'mal[tensorboard]'") from None
        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def step(self, step: int, values: Mapping[str, float], lr: float) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"train/{name}", value, step)
        self.writer.add_scalar("train/lr", lr, step)

    def epoch(self, row: Mapping[str, Any]) -> None:
        step = int(row["step"])
        for name, value in row.items():
            if name.startswith(("train_", "valid_")) and isinstance(value, (int, float)):
                self.writer.add_scalar(f"epoch/{name}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
