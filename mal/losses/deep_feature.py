"""Deep-feature loss: the baseline Model as Loss must beat.

The same feature distance as MAL (``mal.losses.mal.layered_distance``: L1 by default between
the layer features of enhanced and clean speech), but the features come from a frozen
pre-trained network instead of the model's own encoder:

- ``wavlm`` / ``wav2vec2``: a local ``transformers`` checkpoint directory (``checkpoint``);
  features are the hidden states (index 0 = CNN feature projection, then each transformer layer).
- ``ge2e``: the GE2E speaker encoder whose weights ship inside the ``resemblyzer`` wheel (the
  only pre-trained speech network inside a package reachable offline, see
  ``mal.losses.pretrained.ge2e``); features are its three LSTM layer outputs.

The network lives inside the criterion: eval mode always, ``requires_grad=False``, outside the
criterion's ``parameters()`` and ``state_dict`` (it is reloaded from its source, so training
checkpoints do not carry hundreds of MB of fixed weights); ``.to(device)`` moves it.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import torch
from torch import nn

from mal.losses.abs_loss import AbsLoss
from mal.losses.mal import (
    DISTANCES,
    NORMALIZATIONS,
    Layers,
    check_choice,
    layer_weights_for,
    layered_distance,
    parse_layers,
    resolve_layers,
)
from mal.losses.pretrained import NETWORKS, load_feature_network
from mal.losses.time import check_pair


class DeepFeatureLoss(AbsLoss):
    """``sum_l w_l * distance(phi_l(enhanced), phi_l(clean))`` with a frozen pre-trained ``phi``."""

    def __init__(
        self,
        network: Union[str, nn.Module] = "ge2e",
        checkpoint: Union[str, os.PathLike, None] = None,
        layers: Layers = "all",
        layer_weights: Optional[Sequence[float]] = None,
        distance: str = "l1",
        normalize: str = "none",
        sample_rate: int = 16000,
    ):
        """``network``: a name of ``NETWORKS``, or an already built feature network (an
        ``nn.Module`` with ``prepare``/``features``/``num_layers``/``sample_rate``, e.g.
        ``SSLFeatures(WavLMModel(WavLMConfig()))`` for a speed benchmark).
        ``checkpoint``: the model directory for wavlm/wav2vec2 (required); for ge2e an
        optional ``.pt`` file (default: resemblyzer's ``pretrained.pt``). ``sample_rate`` is the
        training data's rate and must match the network's (16 kHz)."""
        super().__init__()
        if isinstance(network, nn.Module):
            self.network_name, net = type(network).__name__, network
        else:
            self.network_name = check_choice(network, NETWORKS, "network", "deep_feature")
            net = load_feature_network(network, checkpoint)
        self.distance = check_choice(distance, DISTANCES, "distance", "deep_feature")
        self.normalize = check_choice(normalize, NORMALIZATIONS, "normalize", "deep_feature")
        self.layers = parse_layers(layers, "deep_feature")
        if int(sample_rate) != net.sample_rate:
            raise ValueError(
                f"deep_feature: network '{self.network_name}' expects {net.sample_rate} Hz audio but the data is "
                f"{sample_rate} Hz; resample the data dirs"
            )
        for p in net.parameters():
            p.requires_grad_(False)
        # held in a list so nn.Module does not register it (see the module docstring)
        self._holder = [net.eval()]
        self.resolved_layers = resolve_layers(self.layers, net.num_layers, f"deep_feature ({self.network_name})")
        self.layer_weights = layer_weights_for(self.resolved_layers, layer_weights, "deep_feature")

    @property
    def network(self) -> nn.Module:
        return self._holder[0]

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        self.network._apply(fn)
        return self

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_pair(enhanced, clean, "deep_feature")
        net = self.network
        enhanced, clean = net.prepare(enhanced, clean)
        feats = net.features(torch.cat([enhanced, clean.detach()], dim=0))
        batch = enhanced.shape[0]
        est = [f[:batch] for f in feats]
        ref = [f[batch:].detach() for f in feats]
        return layered_distance(est, ref, self.resolved_layers, self.layer_weights, self.distance, self.normalize)

    def extra_repr(self) -> str:
        return f"network={self.network_name}, layers={self.layers}, distance={self.distance}, normalize={self.normalize}"
