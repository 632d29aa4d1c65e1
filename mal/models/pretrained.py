"""Load a trained model: the one place that turns a ``.pth`` or packed archive into a model.

``load_model(path, device)`` resolves a packed archive to its verified ``model.pth`` (sha256
manifest, see mal.models.pack), reads the checkpoint (``weights_only=True``) and rebuilds the
registered model from its stored name, constructor arguments and weights. Every way that can
fail (missing or damaged file, tampered archive, unknown model name, constructor arguments
the class no longer takes, weights of another shape) is a one-line CheckpointError naming the
file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch

from mal.models import build_model, model_class
from mal.models.abs_model import AbsSEModel
from mal.models.checkpoint import CheckpointError, first_line, load_checkpoint
from mal.models.pack import is_archive, unpack_model

PathLike = Union[str, os.PathLike]


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` picks the local rank's GPU."""
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
        if name == "cuda":
            return torch.device("cuda", local_rank)
    return torch.device(name)


def resolve_checkpoint(path: PathLike) -> Path:
    """The checkpoint file behind ``path``: itself, or a verified archive's extracted model.pth."""
    path = Path(path)
    return unpack_model(path) if is_archive(path) else path


def _model_record(state: Dict[str, Any], where: str, keys: Tuple[str, ...]) -> Dict[str, Any]:
    record = state.get("model")
    if not isinstance(record, dict) or not set(keys) <= set(record):
        raise CheckpointError(f"{where}: no 'model' record with {'/'.join(keys)}; not a mal model checkpoint")
    if not isinstance(record["conf"], dict):
        raise CheckpointError(f"{where}: model 'conf' is a {type(record['conf']).__name__}, expected a mapping")
    return record


def _weights_mismatch(model: torch.nn.Module, stored: Dict[str, Any]) -> str:
    """The first difference between ``model``'s parameters and ``stored`` ('' when none)."""
    expected = model.state_dict()
    problems = [f"missing '{k}'" for k in expected if k not in stored]
    problems += [f"unexpected '{k}'" for k in stored if k not in expected]
    problems += [
        f"size mismatch for '{k}': checkpoint {tuple(v.shape)}, model {tuple(expected[k].shape)}"
        for k, v in stored.items()
        if k in expected and isinstance(v, torch.Tensor) and v.shape != expected[k].shape
    ]
    if not problems:
        return ""
    more = f" ({len(problems)} differences in all)" if len(problems) > 1 else ""
    return problems[0] + more


def model_from_state(state: Dict[str, Any], where: str = "checkpoint") -> AbsSEModel:
    """Rebuild the model a checkpoint dict describes; any mismatch is a CheckpointError naming ``where``."""
    record = _model_record(state, where, ("name", "conf", "state_dict"))
    name, conf, stored = record["name"], record["conf"], record["state_dict"]
    try:
        model_class(name)
    except KeyError as e:
        raise CheckpointError(f"{where}: {e.args[0]}") from None
    try:
        model = build_model(name, **conf)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: stored constructor arguments do not fit the current class: {first_line(e)}") from None
    if not isinstance(stored, dict):
        raise CheckpointError(f"{where}: model 'state_dict' is a {type(stored).__name__}, expected a mapping")
    mismatch = _weights_mismatch(model, stored)
    if mismatch:
        raise CheckpointError(f"{where}: weights do not fit model '{name}': {mismatch}")
    try:
        model.load_state_dict(stored)
    except (RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: weights do not fit model '{name}': {first_line(e)}") from None
    return model


def model_spec(path: PathLike) -> Dict[str, Any]:
    """``{"name", "conf"}`` of the model stored in a checkpoint or packed archive."""
    checkpoint = resolve_checkpoint(path)
    record = _model_record(load_checkpoint(checkpoint), str(path), ("name", "conf"))
    return {"name": record["name"], "conf": dict(record["conf"])}


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu") -> Tuple[AbsSEModel, Dict[str, Any]]:
    """Rebuild a model from a ``.pth`` checkpoint or a packed archive, in eval mode on ``device``.

    Returns ``(model, info)``; ``info`` is the checkpoint dict (model record, training config,
    versions, and for training checkpoints their optimiser state).
    """
    source = Path(path)
    checkpoint = resolve_checkpoint(source)
    state = load_checkpoint(checkpoint)
    where = str(source) if checkpoint == source else f"{source} ({checkpoint.name})"
    model = model_from_state(state, where).to(device).eval()
    return model, state


__all__ = ["CheckpointError", "load_model", "model_from_state", "model_spec", "resolve_checkpoint", "resolve_device"]
