"""Self-describing checkpoints: model name + constructor conf + weights (+ training state).

Layout of a checkpoint dict (only tensors and plain Python types, so it loads with
``torch.load(weights_only=True)``)::

    {"model": {"name": "tfmask", "conf": {...}, "state_dict": {...}},
     "config": {...},            # the effective training YAML
     "versions": {"mal": ..., "torch": ...},
     # training checkpoints only:
     "epoch": int, "step": int, "optimizer": ..., "scheduler": ..., "rng": ..., ...}
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch

import mal
from mal.io.atomic import atomic_path
from mal.models import AbsSEModel, build_model

PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely or does not describe a model."""


def versions() -> Dict[str, str]:
    return {"mal": mal.__version__, "torch": str(torch.__version__)}


def model_record(model: AbsSEModel, name: str, conf: Dict[str, Any]) -> Dict[str, Any]:
    """What a checkpoint needs to rebuild ``model`` without the training config."""
    return {"name": name, "conf": dict(conf), "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def save_checkpoint(path: PathLike, state: Dict[str, Any]) -> None:
    """Write atomically: the old file stays intact until the new one is complete."""
    state = dict(state)
    state.setdefault("versions", versions())
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        with open(tmp, "rb") as f:  # on disk before the rename, so a power cut cannot expose an empty file
            os.fsync(f.fileno())


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Load with ``weights_only=True``; arbitrary pickled objects are refused with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: refused to load: it holds objects other than tensors and plain data "
            f"(weights_only=True); only load checkpoints you trust. Detail: {first}"
        ) from None
    except Exception as e:  # RuntimeError, EOFError, OSError, struct.error, ...: damaged files raise many types
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {type(e).__name__}: {e}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(state).__name__}")
    return state


def model_from_state(state: Dict[str, Any], where: str = "checkpoint") -> AbsSEModel:
    record = state.get("model")
    if not isinstance(record, dict) or not {"name", "conf", "state_dict"} <= set(record):
        raise CheckpointError(f"{where}: no 'model' record with name/conf/state_dict")
    model = build_model(record["name"], **record["conf"])
    model.load_state_dict(record["state_dict"])
    return model


def model_spec(path: PathLike) -> Dict[str, Any]:
    """``{"name", "conf"}`` of the model stored in a checkpoint or packed archive."""
    path = Path(path)
    if path.is_file() and path.suffix != ".pth" and _is_archive(path):
        from mal.train.pack import unpack_model

        path = unpack_model(path)
    record = load_checkpoint(path).get("model")
    if not isinstance(record, dict) or not {"name", "conf"} <= set(record):
        raise CheckpointError(f"{path}: no 'model' record with name/conf")
    return {"name": record["name"], "conf": dict(record["conf"])}


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu") -> Tuple[AbsSEModel, Dict[str, Any]]:
    """Rebuild a model from a checkpoint (``.pth``) or a packed model archive; eval mode."""
    path = Path(path)
    if path.is_file() and path.suffix != ".pth" and _is_archive(path):
        from mal.train.pack import unpack_model

        path = unpack_model(path)
    state = load_checkpoint(path)
    model = model_from_state(state, str(path)).to(device).eval()
    return model, state


def _is_archive(path: Path) -> bool:
    import tarfile

    return tarfile.is_tarfile(path)
