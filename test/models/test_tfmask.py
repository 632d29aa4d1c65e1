"""TFMaskNet specifics: pass-through init, bounded mask, streaming == offline, latency."""
from __future__ import annotations

import random

import pytest
import torch

from helpers.model_cases import noisy_pair, randomize_mask_head, speech_like
from mal.models.layers import bounded_complex_mask
from mal.models.tfmask import TFMaskNet

#: streamed vs offline output (peak ~0.5): float rounding only (measured up to 3e-7)
STREAM_TOLERANCE = 2e-6

STREAM_CONFIGS = [
    {"n_fft": 256, "hop_length": 64, "channels": [4, 8], "rnn_hidden": 16},
    {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "rnn_hidden": 16, "time_kernel": 3, "rnn_type": "lstm", "rnn_layers": 2},
    {"channels": [4, 4, 4], "rnn_hidden": 16, "features": ["compressed", "log"], "window": "hann"},
    {"n_fft": 256, "hop_length": 64, "channels": [4, 8], "rnn_hidden": 16, "mask": "gain", "mask_bound": 1.0},
]


def causal_model(conf, seed=0) -> TFMaskNet:
    torch.manual_seed(seed)
    model = TFMaskNet(causal=True, **conf).eval()
    randomize_mask_head(model, seed=seed)
    return model


def stream(model: TFMaskNet, wav: torch.Tensor, chunk_sizes) -> torch.Tensor:
    streamer = model.streamer()
    outs, start, i = [], 0, 0
    while start < len(wav):
        size = chunk_sizes[i % len(chunk_sizes)]
        outs.append(streamer.feed(wav[start : start + size]))
        start, i = start + size, i + 1
    outs.append(streamer.flush())
    return torch.cat(outs)


def test_untrained_model_passes_input_through():
    model = TFMaskNet(n_fft=256, hop_length=64, channels=[4, 8], rnn_hidden=16)
    noisy, _ = noisy_pair(0.5, seed=2)
    with torch.no_grad():
        out = model(noisy[None])[0]
    torch.testing.assert_close(out, noisy, atol=1e-5, rtol=0)


def test_mask_is_identity_below_one_and_bounded_above():
    g = torch.Generator().manual_seed(0)
    small_r, small_i = torch.rand(1000, generator=g) * 0.6 - 0.8, torch.rand(1000, generator=g) * 0.4 - 0.2
    real, imag = bounded_complex_mask(small_r, small_i, 2.0)  # |1 + delta| <= 1 here
    assert ((1 + small_r) ** 2 + small_i**2 <= 1).all()
    torch.testing.assert_close(real, 1 + small_r)
    torch.testing.assert_close(imag, small_i)
    big_r, big_i = torch.randn(1000, generator=g) * 100, torch.randn(1000, generator=g) * 100
    real, imag = bounded_complex_mask(big_r, big_i, 2.0)
    mag = torch.sqrt(real**2 + imag**2)
    assert mag.max() <= 2.0 + 1e-6
    phase_in, phase_out = torch.atan2(big_i, 1 + big_r), torch.atan2(imag, real)
    torch.testing.assert_close(phase_out, phase_in, atol=1e-4, rtol=0)
    # gradients are finite where the mask is zero (full suppression)
    d = torch.tensor([-1.0, 0.0], requires_grad=True)
    r, i = bounded_complex_mask(d[:1], d[1:], 2.0)
    (r + i).sum().backward()
    assert torch.isfinite(d.grad).all()


def test_gain_mask_keeps_the_noisy_phase_and_stays_within_its_bound():
    """``mask: gain``: a real gain per bin in (0, mask_bound), 0.5 * mask_bound untrained."""
    torch.manual_seed(0)
    model = TFMaskNet(n_fft=256, hop_length=64, channels=[4, 8], rnn_hidden=16, mask="gain", mask_bound=1.0)
    complex_model = TFMaskNet(n_fft=256, hop_length=64, channels=[4, 8], rnn_hidden=16)
    assert model.decoder[-1].conv.out_channels * 2 == complex_model.decoder[-1].conv.out_channels  # one output map
    noisy, _ = noisy_pair(0.5, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(model(noisy[None])[0], 0.5 * noisy, atol=1e-5, rtol=0)
        randomize_mask_head(model, std=1.0)
        spec = model.stft(noisy[None])
        real, imag = model.decode_frames(*_encoded(model, spec))
    assert (imag == 0).all() and (real >= 0).all() and (real <= 1).all()
    assert real.std() > 0.05  # the head varies the gain over bins and frames
    for bad in ({"mask": "polar"}, {"mask": "gain", "mask_bound": 0.0}, {"mask": "complex", "mask_bound": 1.0},
                {"mask": "gain", "mask_bound": 1.0, "mask_floor": 1.0}, {"mask": "gain", "mask_floor": -0.1}, {"mask_floor": 0.1}):
        with pytest.raises(ValueError, match="mask"):
            TFMaskNet(channels=[4], rnn_hidden=8, **bad)


def test_gain_mask_floor_bounds_the_attenuation():
    """``mask_floor``: a head that mutes every bin leaves them at the floor, not at zero."""
    torch.manual_seed(0)
    model = TFMaskNet(n_fft=256, hop_length=64, channels=[4, 8], rnn_hidden=16, mask="gain", mask_bound=1.0, mask_floor=0.1)
    noisy, _ = noisy_pair(0.5, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(model(noisy[None])[0], 0.55 * noisy, atol=1e-5, rtol=0)  # untrained: halfway
        torch.nn.init.zeros_(model.decoder[-1].conv.weight)
        torch.nn.init.constant_(model.decoder[-1].conv.bias, -30.0)  # sigmoid -> 0: every bin muted
        real, _ = model.decode_frames(*_encoded(model, model.stft(noisy[None])))
        enhanced = model(noisy[None])[0]
    torch.testing.assert_close(real, torch.full_like(real, 0.1))
    torch.testing.assert_close(enhanced, 0.1 * noisy, atol=1e-5, rtol=0)


def _encoded(model: TFMaskNet, spec: torch.Tensor):
    outs, bottleneck, _ = model.encode_frames(model.features(spec))
    return outs, bottleneck


def test_model_output_follows_mask_bound():
    """A saturated head amplifies by mask_bound, no more (sqrt-Hann at 75% overlap is a tight
    frame, so the output energy is the masked STFT's energy)."""
    model = TFMaskNet(n_fft=256, hop_length=64, channels=[4], rnn_hidden=16, mask_bound=1.5)
    with torch.no_grad():
        model.decoder[-1].conv.bias.fill_(50.0)
    x = speech_like(0.5)[None]
    with torch.no_grad():
        y = model(x)
    ratio = (y.norm() / x.norm()).item()
    assert 1.45 < ratio <= 1.5 * 1.001


@pytest.mark.parametrize("conf", STREAM_CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("chunks", [[1], [7], [64], [300, 1, 513], [5000], [16001]], ids=str)
def test_streamer_matches_offline(conf, chunks):
    model = causal_model(conf)
    noisy, _ = noisy_pair(1.0, seed=4)
    noisy = noisy[:4001] if chunks == [1] else noisy[:-1]  # not a multiple of the hop
    with torch.no_grad():
        offline = model(noisy[None])[0]
    streamed = stream(model, noisy, chunks)
    assert streamed.shape == offline.shape
    assert (streamed - offline).abs().max() < STREAM_TOLERANCE
    assert (offline - noisy).abs().max() > 1e-2  # the mask really changes the signal


def test_streamer_matches_offline_for_random_chunks():
    model = causal_model(STREAM_CONFIGS[0], seed=3)
    wav = speech_like(0.8, seed=5)
    rng = random.Random(0)
    sizes = [rng.randint(1, 700) for _ in range(200)]
    with torch.no_grad():
        offline = model(wav[None])[0]
    assert (stream(model, wav, sizes) - offline).abs().max() < STREAM_TOLERANCE


@pytest.mark.parametrize("length", [1, 50, 257, 700])
def test_streamer_handles_signals_shorter_than_a_window(length):
    model = causal_model(STREAM_CONFIGS[2])
    wav = torch.randn(length) * 0.1
    with torch.no_grad():
        offline = model(wav[None])[0]
    for chunks in ([length], [3]):
        assert (stream(model, wav, chunks) - offline).abs().max() < STREAM_TOLERANCE


def test_streamer_latency_is_at_most_one_window():
    model = causal_model(STREAM_CONFIGS[2])
    assert model.algorithmic_latency == 511
    streamer = model.streamer()
    wav = speech_like(0.5)
    fed = emitted = 0
    for start in range(0, len(wav), 100):
        emitted += streamer.feed(wav[start : start + 100]).numel()
        fed = min(start + 100, len(wav))
        assert emitted >= fed - model.algorithmic_latency
        assert emitted <= fed
    assert emitted + streamer.flush().numel() == len(wav)


def test_streamer_needs_a_causal_model_and_ends_at_flush():
    model = TFMaskNet(channels=[4], rnn_hidden=8)
    assert not model.supports_streaming
    with pytest.raises(RuntimeError, match="causal"):
        model.streamer()
    model = TFMaskNet(channels=[4], rnn_hidden=8, causal=True)
    assert model.supports_streaming
    streamer = model.streamer()
    streamer.feed(torch.zeros(1000))
    streamer.flush()
    with pytest.raises(RuntimeError, match="flush"):
        streamer.feed(torch.zeros(10))


def test_streamer_keeps_no_autograd_graph():
    model = causal_model(STREAM_CONFIGS[0])
    out = model.streamer().feed(torch.randn(2000, requires_grad=True))
    assert not out.requires_grad


def test_skips_false_decoder_uses_only_the_bottleneck():
    torch.manual_seed(0)
    for skips in (True, False):
        model = TFMaskNet(n_fft=256, hop_length=64, channels=[4, 8], rnn_hidden=16, skips=skips).eval()
        randomize_mask_head(model)
        x = speech_like(0.3)[None]
        with torch.no_grad():
            feats = model.encode(x)
            poked = [f + 1.0 for f in feats[:-1]] + [feats[-1]]
            same = torch.equal(model.decode(feats, x), model.decode(poked, x))
        assert same is (not skips)


def test_gradients_through_encoder_of_silence_are_finite():
    """MAL runs the encoder on enhanced speech, which may contain digital silence."""
    model = TFMaskNet(n_fft=256, hop_length=64, channels=[4, 8], rnn_hidden=16, features=["compressed", "log"])
    wav = torch.zeros(1, 4000)
    wav[0, 2000:] = speech_like(0.125)
    wav.requires_grad_(True)
    sum(f.abs().mean() for f in model.encode(wav)).backward()
    assert torch.isfinite(wav.grad).all()


def test_default_sizes():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(TFMaskNet()) == 932_628
    assert count(TFMaskNet(causal=True)) == 636_372


@pytest.mark.parametrize("conf", STREAM_CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_stream_frames_equals_the_offline_frame_pipeline(conf):
    """TFMaskNet.stream_frames (the streamer's step) gives the mask of features + encode_frames +
    decode_frames, also carried over two calls (recurrent state, conv caches)."""
    model = causal_model(conf, seed=1)
    spec = model.stft(speech_like(0.3, seed=2)[None]).transpose(1, 2)  # [1, frames, bins]
    with torch.no_grad():
        outs, bottleneck, _ = model.encode_frames(model.features(spec.transpose(1, 2)))
        expected = torch.complex(*model.decode_frames(outs, bottleneck))
        first, state = model.stream_frames(spec[:, :5], None)
        second, _ = model.stream_frames(spec[:, 5:], state)
    got = torch.cat([first, second], dim=1)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < STREAM_TOLERANCE
    assert (expected - 1).abs().max() > 1e-2  # a mask that is not the identity


@pytest.mark.parametrize("n_fft, hop", [(256, 100), (200, 30)])
def test_streamer_matches_offline_when_the_hop_does_not_divide_n_fft(n_fft, hop):
    """The streamer's cached window envelope (per block geometry) also holds for a hop that is
    not a divisor of n_fft, with blocks of every size."""
    model = causal_model({"n_fft": n_fft, "hop_length": hop, "channels": [4, 8], "rnn_hidden": 16})
    wav = speech_like(0.7, seed=1)
    rng = random.Random(1)
    with torch.no_grad():
        offline = model(wav[None])[0]
    for chunks in ([256], [1], [rng.randint(1, 900) for _ in range(100)]):
        assert (stream(model, wav, chunks) - offline).abs().max() < STREAM_TOLERANCE
