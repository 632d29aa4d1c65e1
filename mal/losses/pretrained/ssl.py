"""WavLM / wav2vec 2.0 from a local ``transformers`` checkpoint directory (never downloaded)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Tuple, Union

import torch
from torch import nn

#: network name -> (transformers class, an example hub id for the error message)
SSL_NETWORKS = {
    "wavlm": ("WavLMModel", "microsoft/wavlm-base-plus"),
    "wav2vec2": ("Wav2Vec2Model", "facebook/wav2vec2-base"),
}


class SSLFeatures(nn.Module):
    """``features(wav[B, T])`` -> every hidden state (CNN projection + each transformer layer)
    as ``[B, C, frames]``; ``num_layers = num_hidden_layers + 1``.

    ``prepare`` standardises the waveforms per utterance when the checkpoint's feature
    extractor does so (``do_normalize`` in ``preprocessor_config.json``; the default when
    absent), both with the *clean* utterance's mean and variance, so the loss still sees the
    enhanced signal's level.
    """

    sample_rate = 16000

    def __init__(self, model: nn.Module, normalize_input: bool = True):
        super().__init__()
        self.model = model
        self.normalize_input = normalize_input
        self.num_layers = int(model.config.num_hidden_layers) + 1

    def prepare(self, enhanced: torch.Tensor, clean: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if not self.normalize_input:
            return enhanced, clean
        clean = clean.detach()
        mean = clean.mean(-1, keepdim=True)
        std = (clean.var(-1, keepdim=True, unbiased=False) + 1e-7).sqrt()
        return (enhanced - mean) / std, (clean - mean) / std

    def features(self, wav: torch.Tensor) -> List[torch.Tensor]:
        out = self.model(wav, output_hidden_states=True, return_dict=True)
        return [h.transpose(1, 2) for h in out.hidden_states]


def load_ssl(network: str, checkpoint: Union[str, os.PathLike, None]) -> SSLFeatures:
    """Load ``WavLMModel``/``Wav2Vec2Model`` with ``from_pretrained(dir, local_files_only=True)``."""
    class_name, example = SSL_NETWORKS[network]
    hint = (
        f"put a {network} checkpoint directory (config.json + weights) there, e.g. download "
        f"'{example}' on a machine with internet (`huggingface-cli download {example} --local-dir DIR`) "
        f"and copy DIR over; mal never downloads weights"
    )
    if checkpoint is None:
        raise ValueError(f"deep_feature network '{network}' needs checkpoint: a local directory; {hint}")
    path = Path(checkpoint)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"deep_feature network '{network}': no checkpoint at {path} (config.json missing); {hint}")
    import transformers

    model = getattr(transformers, class_name).from_pretrained(str(path), local_files_only=True)
    normalize_input = True
    preprocessor = path / "preprocessor_config.json"
    if preprocessor.is_file():
        normalize_input = bool(json.loads(preprocessor.read_text()).get("do_normalize", True))
    return SSLFeatures(model.eval(), normalize_input)
