"""Self-describing checkpoints: save and load (a leaf: nothing here builds a model).

A checkpoint holds the model name + constructor conf + weights (+ training state); rebuilding
the model is mal.models.pretrained's job.

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
import zipfile
from pathlib import Path
from typing import Any, Dict, Union

import torch

import mal
from mal.io.atomic import atomic_path

PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely or does not describe a model."""


def versions() -> Dict[str, str]:
    return {"mal": mal.__version__, "torch": str(torch.__version__)}


def model_record(model: torch.nn.Module, name: str, conf: Dict[str, Any]) -> Dict[str, Any]:
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


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name when empty)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Load with ``weights_only=True``; arbitrary pickled objects are refused with a clear error."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if not _is_torch_file(path):
        raise CheckpointError(f"{path}: not a readable checkpoint: not a file written by torch.save (empty, truncated or another format)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused to load: it holds objects other than tensors and plain data "
            f"(weights_only=True); only load checkpoints you trust. Detail: {_unpickler_detail(e)}"
        ) from None
    except Exception as e:  # RuntimeError, EOFError, OSError, struct.error, ...: damaged files raise many types
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {type(e).__name__}: {first_line(e)}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(state).__name__}")
    return state


def _is_torch_file(path: Path) -> bool:
    """A zip archive (torch.save's format) or a legacy pickle (protocol byte first)."""
    with open(path, "rb") as f:
        head = f.read(2)
    return zipfile.is_zipfile(path) or (len(head) == 2 and head[0] == 0x80)


def _unpickler_detail(error: BaseException) -> str:
    """What torch's weights-only unpickler refused (its 'WeightsUnpickler error:' sentence)."""
    marker = "WeightsUnpickler error:"
    for line in str(error).splitlines():
        if marker in line and line.split(marker, 1)[1].strip():
            return line.split(marker, 1)[1].strip().split(". ")[0]
    return first_line(error)
