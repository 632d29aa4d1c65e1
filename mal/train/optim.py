"""Optimisers and learning-rate schedules, by name from the config's ``optim`` and ``scheduler``.

``OPTIMIZERS``, ``SCHEDULERS`` and ``AMP_DTYPES`` are the only lists of valid names: config
validation and the trainer both read them.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Type

import torch
from torch import nn

logger = logging.getLogger("mal.train")

#: ``optim.name`` -> optimiser class (every one takes lr, betas, eps, weight_decay).
OPTIMIZERS: Dict[str, Type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
#: ``scheduler.name`` values LRSchedule implements.
SCHEDULERS = ("constant", "cosine", "plateau")
#: ``train.amp_dtype`` -> the autocast dtype used on CUDA.
AMP_DTYPES: Dict[str, torch.dtype] = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def build_optimizer(params: List[nn.Parameter], conf: Dict[str, Any]) -> torch.optim.Optimizer:
    cls = OPTIMIZERS[str(conf["name"]).lower()]
    return cls(params, lr=float(conf["lr"]), betas=tuple(conf["betas"]), eps=float(conf["eps"]), weight_decay=float(conf["weight_decay"]))


class LRSchedule:
    """Linear warm-up times constant, cosine (to ``min_lr`` at ``total_steps``) or plateau decay.

    ``lr_at(step)`` is set before every optimiser step; ``epoch_end(metric)`` drives plateau.
    A cosine schedule without a known number of steps is a ValueError.
    """

    def __init__(self, conf: Dict[str, Any], base_lr: float, total_steps: Optional[int], mode: str = "min"):
        self.name = conf["name"]
        self.base_lr = float(base_lr)
        self.warmup = int(conf["warmup_steps"])
        self.min_lr = float(conf["min_lr"])
        self.factor, self.patience, self.threshold = float(conf["factor"]), int(conf["patience"]), float(conf["threshold"])
        self.total_steps = total_steps
        self.mode = mode
        self.scale, self.best, self.bad_epochs = 1.0, None, 0
        if self.name == "cosine" and not total_steps:
            raise ValueError("scheduler.name=cosine needs a known number of steps (train.max_steps or max_epochs with a finite epoch)")

    def lr_at(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup) if self.warmup > 0 else 1.0
        if self.name == "cosine":
            progress = min(1.0, max(0.0, (step - self.warmup) / max(1, self.total_steps - self.warmup)))
            lr = self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        elif self.name == "plateau":
            lr = max(self.base_lr * self.scale, self.min_lr)
        else:
            lr = self.base_lr
        return lr * warm

    def epoch_end(self, metric: float) -> None:
        if self.name != "plateau" or not math.isfinite(metric):
            return
        better = self.best is None or (
            metric < self.best - abs(self.best) * self.threshold if self.mode == "min" else metric > self.best + abs(self.best) * self.threshold
        )
        if better:
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.scale *= self.factor
                self.bad_epochs = 0
                logger.info("plateau: no improvement for %d epochs; LR scale now %.4g", self.patience + 1, self.scale)

    def state_dict(self) -> Dict[str, Any]:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.scale, self.best, self.bad_epochs = float(state["scale"]), state["best"], int(state["bad_epochs"])
