"""Training configs of the ablation's branches: read, resolve, complete, reweight."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Mapping

import yaml

from mal.models.checkpoint import load_checkpoint
from mal.models.pretrained import model_spec
from mal.train.config import ConfigError, build_config

MAL_LOSSES = ("mal",)


class SweepError(ValueError):
    """A sweep file or cached state that cannot be used; the message names file and branch."""


def read_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise SweepError(f"{path}: file not found") from None
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: not valid YAML: {e}") from None


def resolve_config_path(value: str, sweep_path: Path) -> Path:
    """A config path: absolute, or relative to the sweep file's directory, then its parent."""
    path = Path(value)
    if path.is_absolute():
        return path
    for root in (sweep_path.parent, sweep_path.parent.parent):
        if (root / path).is_file():
            return root / path
    raise SweepError(f"{sweep_path}: config '{value}' not found next to the sweep file or in {sweep_path.parent.parent}")


def config_mapping(value: Any, sweep_path: Path, where: str) -> Dict[str, Any]:
    """A training config given as a path or inline; always a fresh copy."""
    if isinstance(value, str):
        path = resolve_config_path(value, sweep_path)
        data = read_yaml(path)
        if not isinstance(data, dict):
            raise SweepError(f"{path}: expected a YAML mapping (a mal-train config) for {where}")
        return data
    if isinstance(value, dict):
        return copy.deepcopy(value)
    raise SweepError(f"{sweep_path}: {where} must be a config path or mapping, got {value!r}")


def model_config_of(checkpoint: Path) -> Dict[str, Any]:
    """The training config stored in a checkpoint (the warm-up's loss is continued from it)."""
    state = load_checkpoint(checkpoint)
    if not isinstance(state.get("config"), dict):
        raise SweepError(f"{checkpoint}: holds no training config")
    return state["config"]


def is_mal(spec: Mapping[str, Any]) -> bool:
    return spec.get("name") in MAL_LOSSES


def with_steps(config: Dict[str, Any], steps: int, seed: int) -> Dict[str, Any]:
    """Exactly ``steps`` optimiser steps in one epoch; the final weights become model.pth."""
    config = copy.deepcopy(config)
    train = config.setdefault("train", {})
    train.update({"max_steps": int(steps), "steps_per_epoch": int(steps), "max_epochs": 1, "seed": int(seed), "keep_nbest": 1})
    return config


def finish_config(given: Dict[str, Any], init: Path, where: str) -> Dict[str, Any]:
    """Validate with mal.train.config; the model comes from ``init`` when the config names none."""
    given = copy.deepcopy(given)
    if "model" not in given:
        if not init.is_file():
            raise SweepError(f"{where}: --init {init} not found (train the warm-up first)")
        given["model"] = model_spec(init)
    try:
        return build_config(given, source=where)
    except ConfigError as e:
        raise SweepError(str(e)) from None


def scale_conventional(config: Dict[str, Any], factor: float) -> Dict[str, Any]:
    """Every non-MAL criterion weight times ``factor``."""
    config = copy.deepcopy(config)
    for spec in config["criterions"]:
        if not is_mal(spec):
            spec["weight"] = float(spec.get("weight", 1.0)) * factor
    return config
