"""The NaN guard under a GradScaler: the scaler's overflow skips are not bad steps, real NaNs are.

The trainer's mixed precision is device-generic; these tests turn it on for the CPU (fp16
autocast and a CPU GradScaler) with a first loss scale high enough that the first steps overflow.
"""
from __future__ import annotations

import csv

import pytest
import torch

from helpers.configs import tiny_config
from mal.models.checkpoint import load_checkpoint
from mal.train import precision
from mal.train.config import build_config
from mal.train.trainer import Trainer, TrainingError


@pytest.fixture
def cpu_amp(monkeypatch):
    monkeypatch.setattr(precision, "AMP_DEVICE_TYPES", ("cuda", "cpu"))


def _trainer(tmp_path, data_dirs, steps: int, **sections) -> Trainer:
    train = {"max_epochs": 1, "steps_per_epoch": steps, "amp": True, "amp_dtype": "float16", "nan_tolerance": 3}
    config = tiny_config(train={**train, **sections.pop("train", {})}, **sections)
    return Trainer(build_config(config), *data_dirs, tmp_path / "exp", device="cpu")


def test_overflow_skips_do_not_count_toward_nan_tolerance(tmp_path, data_dirs, cpu_amp, monkeypatch):
    monkeypatch.setattr(precision, "INIT_SCALE", 2.0**32)
    trainer = _trainer(tmp_path, data_dirs, steps=24)
    trainer.run()
    skips = (tmp_path / "exp" / "train.log").read_text().count("gradients overflowed at loss scale")
    assert skips > 3 == trainer.tc["nan_tolerance"]  # more skips than the tolerance, and no error
    assert skips == trainer.scaler_skips
    with open(tmp_path / "exp" / "log.csv", newline="") as f:
        row = list(csv.DictReader(f))[-1]
    assert int(row["bad_steps"]) == 0 and int(row["step"]) == 24 - skips
    scale = load_checkpoint(tmp_path / "exp" / "checkpoint.pth")["scaler"]["scale"]
    assert scale == 2.0 ** (32 - skips)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_a_nan_loss_is_never_an_overflow(tmp_path, data_dirs, cpu_amp, register_criteria):
    trainer = _trainer(tmp_path, data_dirs, steps=8, criterions=[{"name": "always_nan"}])
    with pytest.raises(TrainingError, match="3 consecutive training steps .* non-finite loss"):
        trainer.run()
    assert trainer.scaler_skips == 0


def test_a_nan_gradient_stops_once_the_scale_is_down_to_one(tmp_path, data_dirs, cpu_amp, register_criteria, monkeypatch):
    monkeypatch.setattr(precision, "INIT_SCALE", 2.0**4)
    trainer = _trainer(tmp_path, data_dirs, steps=12, criterions=[{"name": "nan_gradient"}])
    with pytest.raises(TrainingError, match="non-finite gradient norm"):
        trainer.run()
    assert trainer.scaler_skips == 4  # scales 16, 8, 4, 2 may be overflows; at 1 the NaN is real


def test_amp_stays_off_on_cpu_by_default(tmp_path, data_dirs):
    trainer = _trainer(tmp_path, data_dirs, steps=1)
    trainer.run()
    assert not trainer.precision.enabled and not trainer.scaler.is_enabled()


def test_emulated_bf16_falls_back_to_fp16_with_a_scaler(monkeypatch, caplog):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "an old GPU")
    monkeypatch.setattr(torch.amp, "GradScaler", lambda device, init_scale, enabled: ("scaler", device, enabled))
    with caplog.at_level("WARNING", logger="mal.train"):
        mp = precision.MixedPrecision(torch.device("cuda"), True, torch.bfloat16)
    assert mp.enabled and mp.dtype == torch.float16 and mp.scaler == ("scaler", "cuda", True)
    assert "bfloat16 is emulated on an old GPU" in caplog.text
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.MixedPrecision(torch.device("cuda"), True, torch.bfloat16).dtype == torch.bfloat16
