"""Enhancement models, chosen by name from YAML (``model: {name: ..., conf: {...}}``)."""
from __future__ import annotations

from typing import Dict

from mal.models.abs_model import AbsSEModel
from mal.registry import Registry

#: name -> "module:Class"; modules are imported on first use.
MODEL_REGISTRY: Dict[str, str] = {
    "bandgru": "mal.models.bandgru:BandGainGRU",
    "demucs": "mal.models.demucs:Demucs",
    "dfnet": "mal.models.deepfilter:DeepFilterNet",
    "dpcrn": "mal.models.dualpath:DualPathMaskNet",
    "tfmask": "mal.models.tfmask:TFMaskNet",
    "tiny": "mal.models.tiny:TinyConvAE",
}
MODELS: Registry[AbsSEModel] = Registry("model", AbsSEModel, MODEL_REGISTRY)
#: The registered model class of a name (KeyError naming the choices).
model_class = MODELS.get
#: Instantiate a registered model; unknown constructor keys fail with the model's name.
build_model = MODELS.build


__all__ = ["AbsSEModel", "MODELS", "MODEL_REGISTRY", "build_model", "model_class"]
