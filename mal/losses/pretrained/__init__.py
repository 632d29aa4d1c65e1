"""Frozen pre-trained feature networks for the deep-feature baseline loss.

Each loader returns an ``nn.Module`` in eval mode with ``prepare(enhanced, clean) -> (enhanced,
clean)`` (the network's input conditioning, with statistics taken from the clean signal),
``features(wav[B, T]) -> list of [B, C, frames]``, ``num_layers`` and ``sample_rate``.
"""
from __future__ import annotations

import os
import pickle
from typing import Union

from torch import nn

NETWORKS = ("wavlm", "wav2vec2", "ge2e")


def load_feature_network(network: str, checkpoint: Union[str, os.PathLike, None] = None) -> nn.Module:
    """``ge2e``: resemblyzer's weights (or ``checkpoint`` .pt); ``wavlm``/``wav2vec2``: a local dir.

    Weights are loaded with ``weights_only=True``: a file holding other pickled objects is
    refused with a ValueError (torch's own message suggests the unsafe ``weights_only=False``).
    """
    if network not in NETWORKS:
        raise ValueError(f"deep_feature: unknown network '{network}'; choose one of: {', '.join(NETWORKS)}")
    try:
        if network == "ge2e":
            from mal.losses.pretrained.ge2e import load_ge2e

            return load_ge2e(checkpoint)
        from mal.losses.pretrained.ssl import load_ssl

        return load_ssl(network, checkpoint)
    except pickle.UnpicklingError:
        raise ValueError(
            f"deep_feature network '{network}': refused to load the weights in {checkpoint or 'the resemblyzer package'}: "
            "they hold objects other than tensors and plain data (weights_only=True); only use weights you trust"
        ) from None


__all__ = ["NETWORKS", "load_feature_network"]
