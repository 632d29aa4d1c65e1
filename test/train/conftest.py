"""Fixtures for the trainer tests: small generated data dirs, the misbehaving criteria."""
from __future__ import annotations

import pytest
import torch

from helpers.datadir import make_data_dir


@pytest.fixture(autouse=True)
def _one_thread():
    """2 shared CPU cores: keep each test on one intra-op thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data_dirs(tmp_path_factory) -> tuple:
    """(train, valid): 8 and 4 utterances of 1-1.5 s harmonic speech in white noise at 5 dB SNR."""
    root = tmp_path_factory.mktemp("data")
    return make_data_dir(root / "train", 8, seed=0), make_data_dir(root / "valid", 4, seed=1)


@pytest.fixture
def register_criteria(monkeypatch):
    """Make the misbehaving test criteria of train_criteria.py available by name."""
    from mal.losses import LOSS_REGISTRY

    for name, cls in (("nan_every", "NaNEvery"), ("always_nan", "AlwaysNaN"), ("nan_gradient", "NaNGradient")):
        monkeypatch.setitem(LOSS_REGISTRY, name, f"train_criteria:{cls}")
