"""DualPathMaskNet: shapes, identity at the start, causality, streaming and the blocks' state
(learning, export and numerics: the shared model suites through helpers.model_cases)."""
from __future__ import annotations

import pytest
import torch

from helpers.model_cases import assert_streams_as_offline, noisy_pair, randomize_mask_head
from mal.models import build_model
from mal.models.dualpath import DualPathBlock, DualPathMaskNet

SMALL = {"n_fft": 256, "hop_length": 64, "channels": [4, 8], "hidden": 8, "blocks": 2}


def make(seed: int = 0, **conf) -> DualPathMaskNet:
    torch.manual_seed(seed)
    model = build_model("dpcrn", **{**SMALL, **conf}).eval()
    randomize_mask_head(model, std=0.5, seed=seed)
    return model


def test_defaults_are_causal_and_smaller_than_tfmask():
    model = build_model("dpcrn")
    assert isinstance(model, DualPathMaskNet) and model.causal and model.supports_streaming
    assert model.algorithmic_latency == model.n_fft - 1
    default_tfmask = build_model("tfmask", causal=True, rnn_hidden=128)
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in default_tfmask.parameters())
    assert not hasattr(model, "rnn_in") and not hasattr(model, "rnn")  # no flattened-frame GRU left unused
    for blocks in (0, "2"):
        with pytest.raises(ValueError, match="blocks"):
            build_model("dpcrn", blocks=blocks)
    with pytest.raises(ValueError, match="intra"):
        build_model("dpcrn", intra="lstm")


@pytest.mark.parametrize("causal", [True, False])
def test_shapes_encoder_features_and_state(causal):
    model = make(causal=causal)
    x = 0.1 * torch.randn(2, 3001)
    with torch.no_grad():
        feats = model.encode(x)
        y = model(x)
        _, _, state = model.encode_frames(model.features(model.stft(x)))
    frames = 3001 // SMALL["hop_length"] + 1
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert [tuple(f.shape) for f in feats] == [(2, 4, frames, 65), (2, 8, frames, 33), (2, 8, frames, 33)]
    directions = 1 if causal else 2
    assert state["rnn"].shape == (SMALL["blocks"] * directions, 2 * 33, SMALL["hidden"])
    assert torch.equal(y, model.decode(feats, x))


def test_untrained_model_passes_the_input_through():
    torch.manual_seed(0)
    x = 0.1 * torch.randn(1, 8000)
    for conf in ({}, {"causal": False}):
        model = build_model("dpcrn", **conf).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(x), x, atol=1e-5, rtol=0)


def test_causal_output_ignores_later_input_and_offline_sees_it():
    noisy, _ = noisy_pair(1.0, seed=3)
    t = 9000
    changed = noisy.clone()
    changed[t:] = 0.3 * torch.randn(len(noisy) - t, generator=torch.Generator().manual_seed(9))
    model = make()
    with torch.no_grad():
        a, b = model(noisy[None])[0], model(changed[None])[0]
    cut = t - model.algorithmic_latency
    torch.testing.assert_close(a[:cut], b[:cut], atol=1e-6, rtol=0)
    assert (a[t:] - b[t:]).abs().max() > 1e-3
    offline = make(causal=False)
    with pytest.raises(RuntimeError, match="causal"):
        offline.streamer()
    with torch.no_grad():
        a, b = offline(noisy[None])[0], offline(changed[None])[0]
    assert (a[: t - 1000] - b[: t - 1000]).abs().max() > 1e-6  # the backward inter-frame GRU sees the future


@pytest.mark.parametrize("block", [1, 100, 333, 4000])
@pytest.mark.parametrize("mask, intra", [("complex", "gru"), ("gain", "mix")])
def test_streamer_equals_offline(block, mask, intra):
    model = make(seed=2, mask=mask, intra=intra, time_kernel=2)
    assert_streams_as_offline(model, noisy_pair(0.6, seed=4)[0], block)


@pytest.mark.parametrize("intra", ["gru", "mix"])
def test_block_mixes_bands_within_a_frame_and_frames_only_forward_when_causal(intra):
    torch.manual_seed(0)
    block = DualPathBlock(channels=4, bands=6, hidden=8, causal=True, intra=intra).eval()
    x = torch.randn(1, 10, 6, 4)
    poked = x.clone()
    poked[0, 5, 0] += 1.0  # one band of one frame
    with torch.no_grad():
        a, b = block(x)[0], block(poked)[0]
    moved = (a - b).abs().amax(dim=-1)[0]  # [frames, bands]
    assert moved[:5].max() == 0  # earlier frames are untouched
    assert (moved[5] > 0).all()  # every band of that frame moved (the intra GRU runs both ways)
    assert (moved[6:] > 0).any()  # later frames see it through the inter-frame GRU
