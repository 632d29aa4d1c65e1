"""Enhancement models, chosen by name from YAML (``model: {name: ..., conf: {...}}``)."""
from __future__ import annotations

import importlib
from typing import Any, Dict, Type

from mal.models.abs_model import AbsSEModel

#: name -> "module:Class"; modules are imported on first use.
MODEL_REGISTRY: Dict[str, str] = {
    "demucs": "mal.models.demucs:Demucs",
    "tfmask": "mal.models.tfmask:TFMaskNet",
    "tiny": "mal.models.tiny:TinyConvAE",
}


def model_class(name: str) -> Type[AbsSEModel]:
    if name not in MODEL_REGISTRY:
        raise KeyError(f"unknown model '{name}'; choose one of: {', '.join(sorted(MODEL_REGISTRY))}")
    module, cls = MODEL_REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_model(name: str, **conf: Any) -> AbsSEModel:
    """Instantiate a registered model; unknown constructor keys fail with the model's name."""
    cls = model_class(name)
    try:
        return cls(**conf)
    except TypeError as e:
        raise TypeError(f"model '{name}': bad configuration {conf}: {e}") from None


__all__ = ["AbsSEModel", "MODEL_REGISTRY", "build_model", "model_class"]
