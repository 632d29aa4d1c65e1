"""Demucs specifics: valid_length, loudness following the input, skips, latency, sizes."""
from __future__ import annotations

import pytest
import torch

from helpers.model_cases import noisy_pair, speech_like
from mal.models.demucs import Demucs


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def chain_is_exact(model: Demucs, length: int) -> bool:
    """No sample left over by any strided conv at the internal rate."""
    n = length * model.resample
    for _ in range(model.depth):
        if n < model.kernel_size or (n - model.kernel_size) % model.stride:
            return False
        n = (n - model.kernel_size) // model.stride + 1
    return True


@pytest.mark.parametrize("conf", [{"depth": 2}, {"depth": 4}, {"depth": 3, "resample": 2}, {"depth": 2, "resample": 4}], ids=str)
def test_valid_length_is_the_smallest_exact_length(conf):
    model = Demucs(hidden=2, lstm_layers=1, **conf)
    for n in [1, 2, 7, 100, 333, 1000, 1601]:
        valid = model.valid_length(n)
        assert valid >= n and chain_is_exact(model, valid)
        assert not any(chain_is_exact(model, m) for m in range(n, valid))


def test_sizes_match_the_docstring():
    assert count(Demucs()) == 2_139_889
    assert count(Demucs(causal=True)) == 1_178_161
    assert 0.9e6 < count(Demucs(hidden=16)) < 1.0e6
    assert count(Demucs(hidden=48, depth=5, resample=4, causal=True)) == 18_867_937


@pytest.mark.parametrize("causal", [False, True])
def test_loudness_follows_the_input(causal):
    torch.manual_seed(0)
    model = Demucs(hidden=4, depth=2, lstm_layers=1, causal=causal, floor=1e-9).eval()
    x = noisy_pair(0.5, seed=1)[0][None]
    with torch.no_grad():
        y = model(x)
        for gain in (0.01, 30.0):
            torch.testing.assert_close(model(gain * x), gain * y, atol=1e-4 * gain, rtol=1e-3)


def test_causal_scale_is_the_running_rms():
    model = Demucs(hidden=2, depth=2, lstm_layers=1, causal=True, floor=0.0)
    x = speech_like(0.25)[None]
    scale = model.input_scale(x)[0]
    for t in (0, 100, 3999):
        torch.testing.assert_close(scale[t], x[0, : t + 1].square().mean().sqrt())
    offline = Demucs(hidden=2, depth=2, lstm_layers=1, floor=0.0).input_scale(x)
    torch.testing.assert_close(offline, x.std(dim=-1, keepdim=True))


def test_skips_false_decoder_uses_only_the_bottleneck():
    for skips in (True, False):
        torch.manual_seed(0)
        model = Demucs(hidden=4, depth=3, lstm_layers=1, skips=skips).eval()
        x = speech_like(0.3)[None]
        with torch.no_grad():
            feats = model.encode(x)
            poked = [f + 1.0 for f in feats[:-1]] + [feats[-1]]
            same = torch.equal(model.decode(feats, x), model.decode(poked, x))
        assert same is (not skips)


def test_causal_latency_is_a_real_and_safe_bound():
    torch.manual_seed(0)
    model = Demucs(hidden=4, depth=3, lstm_layers=1, causal=True).eval()
    assert model.algorithmic_latency == 8 + 7 * 4 + 7 * 16 - 1
    x = noisy_pair(0.5, seed=2)[0]
    t = 5000
    changed = x.clone()
    changed[t:] += 0.5
    with torch.no_grad():
        diff = (model(x[None]) - model(changed[None]))[0].abs()
    first = int((diff > 0).nonzero()[0])
    assert t - model.algorithmic_latency <= first < t  # it does look ahead, never further than stated


def test_encode_features_per_layer_shapes():
    model = Demucs(hidden=4, depth=3, growth=2, lstm_layers=1)
    feats = model.encode(torch.randn(2, 3001))
    frames = [f.shape[-1] for f in feats]
    channels = [f.shape[1] for f in feats]
    assert channels == [4, 8, 16, 16]
    assert frames[0] > frames[1] > frames[2] == frames[3]


def stream(model, wav, chunk_sizes):
    streamer = model.streamer()
    outs, start, i = [], 0, 0
    while start < len(wav):
        size = chunk_sizes[i % len(chunk_sizes)]
        outs.append(streamer.feed(wav[start : start + size]))
        start, i = start + size, i + 1
    outs.append(streamer.flush())
    return torch.cat(outs)


STREAM_CONFIGS = [
    {"hidden": 4, "depth": 3, "lstm_layers": 1},
    {"hidden": 4, "depth": 2, "lstm_layers": 2, "skips": False},
    {"hidden": 4, "depth": 2, "lstm_layers": 1, "normalize": False, "kernel_size": 6, "stride": 2},
]


@pytest.mark.parametrize("conf", STREAM_CONFIGS, ids=str)
@pytest.mark.parametrize("chunks", [[1], [7, 300], [1024], [20000]], ids=str)
def test_streamer_matches_offline(conf, chunks):
    torch.manual_seed(0)
    model = Demucs(causal=True, **conf).eval()
    wav = noisy_pair(1.0, seed=6)[0][: 3001 if chunks == [1] else 12345]
    with torch.no_grad():
        offline = model(wav[None])[0]
    streamed = stream(model, wav, chunks)
    assert streamed.shape == offline.shape
    assert (streamed - offline).abs().max() < 1e-4


def test_streamer_lag_is_the_algorithmic_latency():
    torch.manual_seed(0)
    model = Demucs(hidden=4, depth=3, lstm_layers=1, causal=True).eval()
    streamer = model.streamer()
    wav = speech_like(0.25)
    emitted, worst = 0, 0
    for t in range(len(wav)):
        emitted += streamer.feed(wav[t : t + 1]).numel()
        worst = max(worst, t + 1 - emitted)
    assert worst == model.algorithmic_latency
    assert emitted + streamer.flush().numel() == len(wav)


@pytest.mark.parametrize("length", [0, 1, 5, 600])
def test_streamer_handles_short_signals(length):
    model = Demucs(hidden=4, depth=3, lstm_layers=1, causal=True).eval()
    wav = torch.randn(length) * 0.1
    streamed = stream(model, wav, [2])
    assert streamed.shape == (length,)
    if length:
        with torch.no_grad():
            assert (streamed - model(wav[None])[0]).abs().max() < 1e-4


def test_only_causal_resample_1_models_stream():
    assert Demucs(hidden=2, depth=2, lstm_layers=1, causal=True).supports_streaming
    for conf in ({"causal": False}, {"causal": True, "resample": 2}):
        model = Demucs(hidden=2, depth=2, lstm_layers=1, **conf)
        assert not model.supports_streaming
        with pytest.raises(RuntimeError, match="stream"):
            model.streamer()
