"""Validation scores do not depend on how utterances are batched (no padding in valid batches)."""
from __future__ import annotations

import csv

import pytest
import torch

from helpers.configs import tiny_config
from mal.train.config import build_config
from mal.train.trainer import train
from mal.train.validation import same_length_batches


def test_same_length_batches():
    lengths = [100, 80, 100, 100, 80, 50]
    assert same_length_batches(lengths, batch_size=2) == [[0, 2], [3], [1, 4], [5]]
    assert same_length_batches(lengths, batch_size=8, max_samples=250) == [[0, 2], [3], [1, 4], [5]]
    assert same_length_batches(lengths, batch_size=8, max_samples=10) == [[0], [2], [3], [1], [4], [5]]


def _valid_scores(data_dirs, out, valid_batch_size: int) -> dict:
    config = tiny_config(
        model={"name": "demucs", "conf": {"hidden": 4, "depth": 2, "lstm_layers": 1}},
        batch={"batch_size": 2, "segment_seconds": 0.5, "valid_batch_size": valid_batch_size},
        train={"max_epochs": 1, "steps_per_epoch": 1, "amp": False},
    )
    train(build_config(config), *data_dirs, out, device="cpu")
    with open(out / "log.csv", newline="") as f:
        row = list(csv.DictReader(f))[-1]
    return {k: float(v) for k, v in row.items() if k.startswith("valid_")}


def test_valid_scores_equal_alone_or_together(data_dirs, tmp_path):
    """The valid set has two 1-s utterances and longer ones: batched together or alone, same scores."""
    alone = _valid_scores(data_dirs, tmp_path / "alone", 1)
    together = _valid_scores(data_dirs, tmp_path / "together", 4)
    assert alone.keys() == together.keys() and "valid_sisdr" in alone
    for key, value in alone.items():
        assert together[key] == pytest.approx(value, rel=1e-5, abs=1e-5), key
