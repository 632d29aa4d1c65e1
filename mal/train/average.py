"""Average the weights of several checkpoints of the same model (e.g. the N best epochs)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from mal.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

PathLike = Union[str, os.PathLike]


def average_state_dicts(states: Sequence[Dict[str, torch.Tensor]], names: Optional[Sequence[str]] = None) -> Dict[str, torch.Tensor]:
    """Element-wise mean of state dicts with identical keys and shapes.

    Floating-point tensors are averaged in float64 and cast back; integer tensors (e.g.
    BatchNorm's ``num_batches_tracked``) get the floor of their mean.
    """
    if not states:
        raise CheckpointError("nothing to average: no checkpoints given")
    names = list(names) if names is not None else [f"checkpoint {i}" for i in range(len(states))]
    first = states[0]
    for name, state in zip(names[1:], states[1:]):
        if set(state) != set(first):
            diff = sorted(set(state) ^ set(first))
            raise CheckpointError(f"{name}: parameters differ from {names[0]} (e.g. '{diff[0]}'); only checkpoints of the same model can be averaged")
        for key, value in state.items():
            if value.shape != first[key].shape:
                raise CheckpointError(f"{name}: '{key}' has shape {tuple(value.shape)}, {names[0]} has {tuple(first[key].shape)}")
    averaged: Dict[str, torch.Tensor] = {}
    for key, value in first.items():
        total = torch.stack([s[key].detach().cpu().to(torch.float64) for s in states]).sum(0)
        if value.is_floating_point() or value.is_complex():
            averaged[key] = (total / len(states)).to(value.dtype)
        else:
            averaged[key] = torch.div(total, len(states), rounding_mode="floor").to(value.dtype)
    return averaged


def average_checkpoints(paths: Sequence[PathLike]) -> Dict[str, Any]:
    """A model checkpoint whose weights are the mean of ``paths``' (same model name and conf)."""
    if not paths:
        raise CheckpointError("nothing to average: no checkpoints given")
    states: List[Dict[str, Any]] = [load_checkpoint(p) for p in paths]
    records = []
    for path, state in zip(paths, states):
        record = state.get("model")
        if not isinstance(record, dict) or not {"name", "conf", "state_dict"} <= set(record):
            raise CheckpointError(f"{path}: no 'model' record with name/conf/state_dict")
        records.append(record)
    for path, record in zip(paths[1:], records[1:]):
        if record["name"] != records[0]["name"] or record["conf"] != records[0]["conf"]:
            raise CheckpointError(
                f"{path}: model '{record['name']}' {record['conf']} differs from {paths[0]}: "
                f"'{records[0]['name']}' {records[0]['conf']}"
            )
    weights = average_state_dicts([r["state_dict"] for r in records], [str(p) for p in paths])
    out: Dict[str, Any] = {
        "model": {"name": records[0]["name"], "conf": records[0]["conf"], "state_dict": weights},
        "averaged_from": [str(Path(p)) for p in paths],
    }
    if "config" in states[0]:
        out["config"] = states[0]["config"]
    return out


def write_average(paths: Sequence[PathLike], out: PathLike) -> Path:
    """Average ``paths`` and write the result atomically to ``out``."""
    save_checkpoint(out, average_checkpoints(paths))
    return Path(out)
