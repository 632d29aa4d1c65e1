"""A fast training config for the tiny model, as a dict or a YAML file."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import yaml

from helpers.audio import SR


def tiny_config(**sections: Dict[str, Any]) -> Dict[str, Any]:
    """A fast training config for the tiny model; ``sections`` update each section."""
    config: Dict[str, Any] = {
        "sample_rate": SR,
        "model": {"name": "tiny", "conf": {"channels": 8, "depth": 2}},
        "criterions": [{"name": "l1", "weight": 1.0}],
        "optim": {"name": "adam", "lr": 3.0e-3},
        "scheduler": {"name": "constant"},
        "batch": {"batch_size": 4, "segment_seconds": 0.5, "num_workers": 0},
        "train": {"max_epochs": 3, "seed": 0, "keep_nbest": 2, "amp": False},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name].update(value)
        else:
            config[name] = value
    return config


def write_config(path: Path, config: Optional[Dict[str, Any]] = None, **sections: Any) -> Path:
    path.write_text(yaml.safe_dump(config or tiny_config(**sections), sort_keys=False))
    return path


def run_args(config: Path, data_dirs: tuple, out: Path, *extra: str) -> list:
    """mal-train arguments: ``config`` on ``data_dirs`` = (train, valid) into ``out``, on the CPU."""
    train, valid = data_dirs
    return ["--config", str(config), "--train-dir", str(train), "--valid-dir", str(valid), "--out-dir", str(out), "--device", "cpu", *extra]
