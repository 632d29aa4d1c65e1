"""Training shows "k/N steps, ETA" lines when stderr is not a terminal, and --tensorboard logs."""
from __future__ import annotations

import re

import pytest

from helpers.configs import write_config
from mal.bin.train import main


def run_args(config, data_dirs, out, *extra):
    train, valid = data_dirs
    return ["--config", str(config), "--train-dir", str(train), "--valid-dir", str(valid), "--out-dir", str(out), "--device", "cpu", *extra]


def test_progress_lines_count_steps_to_the_end(tmp_path, data_dirs, monkeypatch):
    monkeypatch.setenv("MAL_PROGRESS_SECONDS", "0")
    config = write_config(tmp_path / "c.yaml", train={"max_epochs": 3, "seed": 0})
    assert main(run_args(config, data_dirs, tmp_path / "exp")) == 0
    log = (tmp_path / "exp" / "train.log").read_text()
    steps = re.findall(r"train: (\d+)/(\d+) steps \(\d+%\), elapsed \S+, ETA (\S+)", log)
    assert [(int(k), int(n)) for k, n, _ in steps] == [(k, 6) for k in range(1, 7)]  # 3 epochs x 2 batches
    assert steps[-1][2] == "0.0s"


def test_tensorboard_records_steps_and_epochs(tmp_path, data_dirs):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = write_config(tmp_path / "c.yaml", train={"max_epochs": 2, "seed": 0, "log_interval": 1})
    assert main(run_args(config, data_dirs, tmp_path / "exp", "--tensorboard")) == 0
    events = EventAccumulator(str(tmp_path / "exp" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "epoch/train_loss", "epoch/valid_loss", "epoch/valid_sisdri"} <= tags
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in events.Scalars("epoch/valid_loss")] == [2, 4]


def test_tensorboard_missing_is_a_one_line_error(tmp_path, data_dirs, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    config = write_config(tmp_path / "c.yaml", train={"max_epochs": 1})
    assert main(run_args(config, data_dirs, tmp_path / "exp", "--tensorboard")) == 1
    assert "pip install 'mal[tensorboard]'" in capsys.readouterr().err
