"""The trainer's parts: one table of optimiser/scheduler names, determinism restored after a run."""
from __future__ import annotations

import os

import pytest
import torch

from helpers.configs import tiny_config
from mal.train import optim
from mal.train.config import ConfigError, build_config
from mal.train.rng import deterministic
from mal.train.trainer import Trainer


def test_config_validation_reads_the_optimiser_tables(monkeypatch):
    for name in optim.OPTIMIZERS:
        assert build_config(tiny_config(optim={"name": name}))["optim"]["name"] == name
    with pytest.raises(ConfigError, match="'optim.name' must be one of adam, adamw, got 'sgd'"):
        build_config(tiny_config(optim={"name": "sgd"}))
    monkeypatch.setitem(optim.OPTIMIZERS, "sgd", torch.optim.SGD)  # a new entry is valid in the config at once
    assert build_config(tiny_config(optim={"name": "sgd"}))["optim"]["name"] == "sgd"
    with pytest.raises(ConfigError, match="'scheduler.name' must be one of constant, cosine, plateau"):
        build_config(tiny_config(scheduler={"name": "step"}))
    with pytest.raises(ConfigError, match="'train.amp_dtype' must be one of bfloat16, float16"):
        build_config(tiny_config(train={"amp_dtype": "int8"}))


def _settings():
    return (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


def test_deterministic_block_restores_the_process_settings(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    before = _settings()
    with deterministic(True):
        assert _settings() == (True, False, ":4096:8")
    assert _settings() == before
    with pytest.raises(RuntimeError, match="boom"), deterministic(True):
        raise RuntimeError("boom")
    assert _settings() == before
    with deterministic(False):
        assert _settings() == before


def test_a_deterministic_run_leaves_the_process_as_it_found_it(tmp_path, data_dirs, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seen = []
    trainer = Trainer(build_config(tiny_config(train={"max_epochs": 1, "deterministic": True})), data_dirs[0], data_dirs[1],
                      tmp_path / "exp", device="cpu")
    real = trainer._build_data
    monkeypatch.setattr(trainer, "_build_data", lambda: (seen.append(_settings()), real())[1])
    before = _settings()
    trainer.run()
    assert seen == [(True, False, ":4096:8")]
    assert _settings() == before
