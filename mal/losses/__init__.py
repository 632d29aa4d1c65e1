"""Training criteria, combined with weights from YAML.

```yaml
criterions:
  - {name: l1, weight: 1.0}
  - {name: mrstft, weight: 1.0, conf: {fft_sizes: [512, 1024, 256]}}
  - {name: mal, weight: 1.0, conf: {variant: frozen, layers: [-1], distance: l1}}
```
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from mal.losses.abs_loss import AbsLoss
from mal.models.abs_model import AbsSEModel
from mal.registry import Registry

#: The keys of one ``criterions:`` entry.
CRITERION_KEYS = ("name", "weight", "conf", "tag")

#: name -> "module:Class"; modules are imported on first use.
LOSS_REGISTRY: Dict[str, str] = {
    "l1": "mal.losses.time:L1Loss",
    "sisdr": "mal.losses.time:SISDRLoss",
    "mrstft": "mal.losses.stft:MultiResolutionSTFTLoss",
    "spectral": "mal.losses.spectral:CompressedSpectralLoss",
    "over_suppression": "mal.losses.spectral:OverSuppressionLoss",
    "irm": "mal.losses.mask:IdealRatioMaskLoss",
    "mal": "mal.losses.mal:ModelAsLoss",
    "deep_feature": "mal.losses.deep_feature:DeepFeatureLoss",
}
LOSSES: Registry[AbsLoss] = Registry("criterion", AbsLoss, LOSS_REGISTRY)
#: The registered criterion class of a name (KeyError naming the choices).
loss_class = LOSSES.get
#: Instantiate a registered criterion; unknown constructor keys fail with its name.
build_loss = LOSSES.build


class CombinedLoss(nn.Module):
    """Weighted sum of criteria; returns the total and each term (unweighted) for logging."""

    def __init__(self, specs: List[Mapping[str, Any]]):
        super().__init__()
        if not specs:
            raise ValueError("criterions: the list is empty; name at least one loss")
        self.names: List[str] = []
        self.weights: List[float] = []
        losses = []
        for i, spec in enumerate(specs):
            unknown = set(spec) - set(CRITERION_KEYS)
            if unknown or "name" not in spec:
                raise ValueError(f"criterions[{i}]: expected keys name/weight/conf/tag, got {sorted(spec)}")
            losses.append(build_loss(spec["name"], **(spec.get("conf") or {})))
            self.names.append(spec.get("tag", spec["name"]))
            self.weights.append(float(spec.get("weight", 1.0)))
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"criterions: duplicate names {self.names}; give each a distinct 'tag'")
        self.losses = nn.ModuleList(losses)

    def attach(self, model: AbsSEModel) -> None:
        for loss in self.losses:
            loss.attach(model)

    def forward(
        self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        terms: Dict[str, torch.Tensor] = {}
        total = enhanced.new_zeros(())
        for name, weight, loss in zip(self.names, self.weights, self.losses):
            value = loss(enhanced, clean, noisy)
            terms[name] = value.detach()
            if weight != 0.0:
                total = total + weight * value
        return total, terms


__all__ = ["AbsLoss", "CombinedLoss", "LOSS_REGISTRY", "build_loss", "loss_class"]
