"""Models that ship inside the mal package: a name -> packed archive (+ its sha256) registry.

Shipping one is a file under ``mal/pretrained/`` (a ``mal-pack-model`` archive, listed in
setup.py's package data) and one line in ``SHIPPED_MODELS``; ``DEFAULT_MODEL`` names the one
``mal.load()`` and ``mal-enhance`` use when no model is given. The archive's sha256 is checked
before it is used, so a damaged or replaced file is refused.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Union

from mal.models.pack import _sha256_file as sha256_of

PathLike = Union[str, os.PathLike]
PACKAGE_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ShippedModel:
    """A packed model inside the package: ``file`` relative to the ``mal`` package directory."""

    file: str
    sha256: str
    description: str


#: name -> shipped model, e.g.
#: "mini_offline_mal": ShippedModel("pretrained/mini_offline_mal.tar.gz", "<sha256>", "TFMaskNet, egs/mini_offline, MAL"),
SHIPPED_MODELS: Dict[str, ShippedModel] = {
    "mini_offline_full": ShippedModel(
        "pretrained/mini_offline_full.tar.gz", "53e84a81ea7d707bc79665e7135fb45f4e80cd8c051527e18247ce6bb6fc534a",
        "causal TFMaskNet (0.38 M), egs/mini_offline/run_full.sh; card: mal/pretrained/mini_offline_full.md",
    ),
    "mini_offline_ft": ShippedModel(
        "pretrained/mini_offline_ft.tar.gz", "5b3883217fc5783952502bd9964d11f09a220a7b45b9961b9b900301e6a24e3d",
        "mini_offline_full + 1,800 fine-tuning steps (egs/mini_offline/conf/full/sweep_long.yaml); card: mal/pretrained/mini_offline_ft.md",
    ),
    "mini_offline_data": ShippedModel(
        "pretrained/mini_offline_data.tar.gz", "5df6ec74c7693b6bb8df3697855aeef37af202da1de5c7df5429f32fdba86f11",
        "mini_offline_full + 1,800 steps on real speech, recorded-noise pools and augmentations "
        "(egs/mini_offline/conf/full/sweep_data.yaml, branch all); card: mal/pretrained/mini_offline_data.md",
    ),
}
#: The model used when none is named (a key of SHIPPED_MODELS), or None while none ships.
DEFAULT_MODEL: Optional[str] = "mini_offline_data"


class ShippedModelError(ValueError):
    """No such shipped model, none shipped, or a shipped file that fails its check."""


def shipped_names() -> str:
    return ", ".join(sorted(SHIPPED_MODELS)) or "none yet"


def shipped_model_path(name: Optional[str] = None) -> Path:
    """The verified archive of shipped model ``name`` (None: the default model)."""
    if name is None:
        if DEFAULT_MODEL is None:
            raise ShippedModelError(
                "no model ships with this mal yet: give a model (a model.pth, or a packed archive from a recipe's "
                "stage 8, e.g. egs/mini_offline/exp/warmup/packed/mal.tar.gz)"
            )
        name = DEFAULT_MODEL
    if name not in SHIPPED_MODELS:
        raise ShippedModelError(f"'{name}' is not a file and not a shipped model (shipped: {shipped_names()})")
    entry = SHIPPED_MODELS[name]
    path = PACKAGE_DIR / entry.file
    if not path.is_file():
        raise ShippedModelError(f"shipped model '{name}': {path} is missing from this installation")
    digest = sha256_of(path)
    if digest != entry.sha256:
        raise ShippedModelError(f"shipped model '{name}': {path} has sha256 {digest}, expected {entry.sha256}; reinstall mal")
    return path


def resolve_model(name_or_path: Optional[PathLike] = None) -> Path:
    """A model file to load: an existing path as given, else a shipped model's archive by name.

    ``None`` is the default shipped model. Errors name what was asked for and what ships.
    """
    if name_or_path is None:
        return shipped_model_path(None)
    path = Path(name_or_path)
    if path.exists():
        return path
    if str(name_or_path) in SHIPPED_MODELS:
        return shipped_model_path(str(name_or_path))
    raise ShippedModelError(f"{name_or_path}: no such file, and not a shipped model (shipped: {shipped_names()})")
