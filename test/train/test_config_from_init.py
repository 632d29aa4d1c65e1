"""A fine-tuning YAML without `model:` takes the model from its --init checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mal.models import build_model
from mal.models.checkpoint import model_record, save_checkpoint
from mal.train.config import ConfigError, load_config


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_model_comes_from_init_checkpoint(tmp_path):
    conf = {"channels": 4, "depth": 2}
    ckpt = tmp_path / "model.pth"
    save_checkpoint(ckpt, {"model": model_record(build_model("tiny", **conf), "tiny", conf)})
    yaml_path = _write(tmp_path / "ft.yaml", "criterions: [{name: l1}]\n")
    config = load_config(yaml_path, model_from=ckpt)
    assert config["model"] == {"name": "tiny", "conf": conf}


def test_model_in_yaml_wins_over_init(tmp_path):
    ckpt = tmp_path / "model.pth"
    save_checkpoint(ckpt, {"model": model_record(build_model("tiny"), "tiny", {})})
    yaml_path = _write(tmp_path / "ft.yaml", "model: {name: tiny, conf: {channels: 2}}\ncriterions: [{name: l1}]\n")
    assert load_config(yaml_path, model_from=ckpt)["model"]["conf"] == {"channels": 2}


def test_no_model_and_no_init_is_a_clear_error(tmp_path):
    yaml_path = _write(tmp_path / "ft.yaml", "criterions: [{name: l1}]\n")
    with pytest.raises(ConfigError, match="model.name"):
        load_config(yaml_path)


def test_pickled_object_in_init_is_refused(tmp_path):
    torch.save({"model": {"name": "tiny", "conf": {}, "state_dict": {}}, "x": object()}, tmp_path / "bad.pth")
    yaml_path = _write(tmp_path / "ft.yaml", "criterions: [{name: l1}]\n")
    from mal.models.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="refused"):
        load_config(yaml_path, model_from=tmp_path / "bad.pth")
