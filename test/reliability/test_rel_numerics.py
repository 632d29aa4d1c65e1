"""Silent, near-silent, clipped and full-scale signals through every registered model (forward and
gradients) and every registered loss (value and gradients, on raw signals and through a model):
nothing is NaN or inf. (The trainer's NaN guard is tested in test/train/test_trainer_loop.py;
silent/clipped files through mal-enhance in test/enhance/test_cli.py.)"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import pytest
import torch
from transformers import WavLMConfig, WavLMModel

from helpers.model_cases import SMALL_CONFIGS, case_id
from mal.losses import LOSS_REGISTRY, build_loss
from mal.losses.pretrained.ssl import SSLFeatures
from mal.models import MODEL_REGISTRY, build_model
from rel_helpers import speech_like

T = 8000  # 0.5 s at 16 kHz


def _signals() -> Dict[str, torch.Tensor]:
    speech = speech_like(T, 3)
    t = np.arange(T) / 16000
    return {
        "speech": speech,
        "silent": np.zeros(T, np.float32),
        "near_silent": (1e-7 * np.random.default_rng(0).standard_normal(T)).astype(np.float32),
        "clipped": np.clip(8.0 * speech, -1.0, 1.0),
        "full_scale_square": np.sign(np.sin(2 * np.pi * 200 * t)).astype(np.float32),
    }


SIGNALS = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in _signals().items()}
HARD = ["silent", "near_silent", "clipped", "full_scale_square"]
#: (enhanced, clean) pairs for the losses: silence and clipping on either side and both.
PAIRS = [("silent", "silent"), ("silent", "speech"), ("speech", "silent"), ("near_silent", "near_silent"),
         ("clipped", "clipped"), ("clipped", "speech"), ("speech", "clipped"), ("full_scale_square", "silent")]

#: every registered model with its default (recipe) configuration, plus the small variants of
#: test/models (causal, without skips, resampling, other features)
MODEL_CASES = [(name, {}) for name in sorted(MODEL_REGISTRY)] + SMALL_CONFIGS
SMALL_MODELS = {"tiny": {"channels": 4}, "demucs": {"hidden": 4, "depth": 2, "lstm_layers": 1},
                "tfmask": {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "rnn_hidden": 16},
                "bandgru": {"num_bands": 8, "hidden": 16, "rnn_layers": 1, "causal": False},
                "dpcrn": {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "hidden": 8},
                "dfnet": {"num_bands": 8, "df_bins": 16, "df_order": 3, "channels": 4, "hidden": 8, "rnn_layers": 1}}
#: the models MAL is checked with (its loss runs through their encoders): small and causal ones
MAL_MODELS = [(name, conf) for name, conf in SMALL_MODELS.items()] + [
    ("demucs", {"hidden": 4, "depth": 2, "lstm_layers": 1, "causal": True}),
    ("tfmask", {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "rnn_hidden": 16, "causal": True}),
    ("bandgru", {"num_bands": 8, "hidden": 16, "rnn_layers": 2}),
]

TINY_WAVLM = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8),
                  conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


def _wavlm_features() -> SSLFeatures:
    torch.manual_seed(0)
    return SSLFeatures(WavLMModel(WavLMConfig(**TINY_WAVLM)).eval())


LOSS_CASES = [
    ("l1", {}),
    ("sisdr", {}),
    ("mrstft", {}),
    ("mrstft", {"fft_sizes": [64, 2048], "log_eps": 1e-4}),
    ("spectral", {}),
    ("spectral", {"fft_sizes": [64, 2048], "gamma": 1.0, "complex_weight": 1.0}),
    ("over_suppression", {}),
    ("irm", {}),
    ("irm", {"fft_size": 64, "hop_size": 16, "power": 1.0}),
    ("mal", {"variant": "frozen"}),
    ("mal", {"variant": "frozen-fe", "layers": "all", "normalize": "layer"}),
    ("mal", {"variant": "dynamic", "layers": "all", "normalize": "instance", "distance": "cosine"}),
    ("mal", {"variant": "frozen", "distance": "l2", "recon_weight": 1.0, "recon_loss": "mrstft"}),
    ("deep_feature", {"network": "ge2e"}),
    ("deep_feature", {"network": "ge2e", "normalize": "instance", "distance": "cosine"}),
    ("deep_feature", {"network": "wavlm", "normalize": "layer"}),
]


def loss_id(case: Tuple[str, dict]) -> str:
    name, conf = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in conf.items())


def make_loss(name: str, conf: dict):
    if conf.get("network") == "wavlm":
        conf = dict(conf, network=_wavlm_features())
    return build_loss(name, **conf)


def test_every_registered_loss_and_model_is_covered():
    assert {name for name, _ in LOSS_CASES} == set(LOSS_REGISTRY)
    assert {name for name, _ in MODEL_CASES} == set(MODEL_REGISTRY) == set(SMALL_MODELS)


def _nonfinite_grads(module: torch.nn.Module) -> list:
    return [n for n, p in module.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]


@pytest.mark.parametrize("case", MODEL_CASES, ids=[case_id(c) for c in MODEL_CASES])
def test_models_forward_and_gradients_are_finite(case):
    name, conf = case
    torch.manual_seed(0)
    model = build_model(name, **conf).train()
    target = SIGNALS["speech"][None]
    for kind in HARD:
        model.zero_grad(set_to_none=True)
        x = SIGNALS[kind][None].clone().requires_grad_()
        y = model(x)
        assert y.shape == x.shape and torch.isfinite(y).all(), f"{kind}: non-finite output"
        for features in model.encode(x.detach()):
            assert torch.isfinite(features).all(), f"{kind}: non-finite encoder features"
        (y - target).abs().mean().backward()
        assert not _nonfinite_grads(model), f"{kind}: non-finite gradients in {_nonfinite_grads(model)}"
        assert torch.isfinite(x.grad).all(), f"{kind}: non-finite gradient at the input"


def _check_loss(loss_fn, enhanced: torch.Tensor, clean: torch.Tensor, where: str) -> None:
    value = loss_fn(enhanced, clean, enhanced.detach())
    assert value.dim() == 0 and torch.isfinite(value), f"{where}: loss {value}"
    value.backward()


@pytest.mark.parametrize("case", LOSS_CASES, ids=[loss_id(c) for c in LOSS_CASES])
def test_losses_are_finite_with_finite_gradients(case):
    name, conf = case
    models = MAL_MODELS if name == "mal" else [("tiny", SMALL_MODELS["tiny"])]
    for model_name, model_conf in models:
        torch.manual_seed(0)
        model = build_model(model_name, **model_conf).train()
        model_name = case_id((model_name, model_conf))
        loss_fn = make_loss(name, conf)
        loss_fn.attach(model)
        loss_fn.train()
        for enh_kind, clean_kind in PAIRS:
            where = f"{model_name}: enhanced={enh_kind} clean={clean_kind}"
            clean = SIGNALS[clean_kind][None]
            # the loss on the raw signals: gradient at the enhanced input
            enhanced = SIGNALS[enh_kind][None].clone().requires_grad_()
            model.zero_grad(set_to_none=True)
            _check_loss(loss_fn, enhanced, clean, where)
            assert torch.isfinite(enhanced.grad).all(), f"{where}: non-finite gradient at the enhanced input"
            # through the model, as in training: gradients at every trained parameter
            model.zero_grad(set_to_none=True)
            _check_loss(loss_fn, model(SIGNALS[enh_kind][None]), clean, where + " (through the model)")
            assert not _nonfinite_grads(model), f"{where}: non-finite model gradients in {_nonfinite_grads(model)}"
