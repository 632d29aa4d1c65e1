"""BandGainGRU: shapes, identity at the start, causality, gain range, streaming (learning: test_model_contract)."""
from __future__ import annotations

import pytest
import torch

from helpers.model_cases import assert_streams_as_offline, noisy_pair, randomize_mask_head
from mal.models import build_model
from mal.models.bandgru import BandGainGRU, erb_band_matrix

SMALL = {"num_bands": 16, "hidden": 16, "rnn_layers": 2}


def make(seed: int = 0, randomize: bool = True, **conf) -> BandGainGRU:
    torch.manual_seed(seed)
    model = build_model("bandgru", **{**SMALL, **conf}).eval()
    if randomize:
        randomize_mask_head(model, std=0.5, seed=seed)
    return model


def test_defaults_are_causal_rnnoise_sized():
    model = build_model("bandgru")
    assert isinstance(model, BandGainGRU) and model.causal and model.supports_streaming
    assert model.algorithmic_latency == model.n_fft - 1 == 511
    assert 0.2e6 < sum(p.numel() for p in model.parameters()) < 0.4e6
    assert not any(k.startswith("band") for k in model.state_dict())  # the band matrix is not a parameter


@pytest.mark.parametrize("n_fft", [64, 256, 512, 1024])
def test_band_matrix_interpolates_and_every_band_has_bins(n_fft):
    bands = erb_band_matrix(32 if n_fft > 64 else 20, n_fft, 16000)
    assert bands.shape[1] == n_fft // 2 + 1 and (bands >= 0).all()
    torch.testing.assert_close(bands.sum(0), torch.ones(bands.shape[1]))  # gains of one give a mask of one
    assert (bands.sum(1) > 0).all()
    widths = (bands > 0).sum(1)
    assert widths[-2] > widths[1]  # ERB: wider at high frequencies
    with pytest.raises(ValueError, match="num_bands"):
        erb_band_matrix(n_fft, n_fft, 16000)


@pytest.mark.parametrize("length", [1, 777, 16001])
def test_shapes_and_encoder_features(length):
    model = make()
    x = 0.1 * torch.randn(2, length)
    with torch.no_grad():
        feats = model.encode(x)
        y = model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    frames = length // model.hop_length + 1
    assert len(feats) == 1 + SMALL["rnn_layers"]
    assert all(f.shape == (2, SMALL["hidden"], frames) for f in feats)
    assert torch.equal(y, model.decode(feats, x))


def test_untrained_model_passes_the_input_nearly_through():
    torch.manual_seed(0)
    x = 0.1 * torch.randn(1, 8000)
    for conf in ({}, {"causal": False}, {"mask_bound": 2.0}):
        model = build_model("bandgru", **conf).eval()
        with torch.no_grad():
            y = model(x)
        start = min(1.0, 0.98 * model.mask_bound)
        torch.testing.assert_close(y, start * x, atol=1e-5, rtol=0)
        assert (y - x).abs().max() <= 0.021 * x.abs().max()


def test_causal_output_ignores_later_input():
    model = make()
    noisy, _ = noisy_pair(1.0, seed=3)
    t = 9000
    changed = noisy.clone()
    changed[t:] = 0.3 * torch.randn(len(noisy) - t, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        a, b = model(noisy[None])[0], model(changed[None])[0]
    cut = t - model.algorithmic_latency
    torch.testing.assert_close(a[:cut], b[:cut], atol=1e-6, rtol=0)
    assert (a[t:] - b[t:]).abs().max() > 1e-3
    offline = make(causal=False)
    assert offline.algorithmic_latency is None and not offline.supports_streaming
    with pytest.raises(RuntimeError, match="causal"):
        offline.streamer()
    with torch.no_grad():
        a, b = offline(noisy[None])[0], offline(changed[None])[0]
    assert (a[: t - 1000] - b[: t - 1000]).abs().max() > 1e-6  # the backward GRU sees the future


@pytest.mark.parametrize("bound", [1.0, 1.5])
def test_gains_stay_in_range(bound):
    model = make(mask_bound=bound)
    with torch.no_grad():
        model.gain_head.weight.normal_(0, 5.0)  # saturate both ends
        bottleneck = model.encode(torch.randn(2, 8000))[-1]
        gains = model.band_gains(bottleneck)
        mask_re, mask_im = model.decode_frames([], bottleneck)
    assert gains.shape == (2, bottleneck.shape[-1], SMALL["num_bands"])
    assert gains.min() >= 0 and gains.max() <= bound and gains.min() < 0.05 * bound and gains.max() > 0.95 * bound
    assert mask_re.min() >= 0 and mask_re.max() <= bound + 1e-6 and not mask_im.any()


@pytest.mark.parametrize("block", [1, 100, 333, 4000])
def test_streamer_equals_offline(block):
    model = make(seed=2)
    assert_streams_as_offline(model, noisy_pair(0.6, seed=4)[0], block)
