"""mal.load(...).enhance(x, rate): numpy or torch, [time] or [batch, time], any rate; stream()."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mal
from api_models import save_model
from mal.enhance.inference import Enhancer
from mal.enhance.streaming import StreamingError


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    return save_model(root / "offline.pth"), save_model(root / "causal.pth", causal=True)


def signal(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_numpy_and_torch_mono_and_batch_keep_type_shape_and_values(paths, rate):
    model = mal.load(paths[0], device="cpu")
    reference = Enhancer.from_checkpoint(paths[0])  # what mal-enhance runs
    batch = np.stack([signal(rate // 2, 1), signal(rate // 2, 2)])
    mono = model.enhance(batch[0], rate)
    assert isinstance(mono, np.ndarray) and mono.shape == batch[0].shape and mono.dtype == np.float32
    np.testing.assert_array_equal(mono, reference.enhance(batch[0], rate))
    assert not np.allclose(mono, batch[0], atol=1e-3)
    out = model.enhance(batch, rate)
    assert out.shape == batch.shape
    np.testing.assert_array_equal(out[0], mono)  # rows are enhanced independently
    tensor = model.enhance(torch.from_numpy(batch).double(), rate)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float64 and tuple(tensor.shape) == batch.shape
    np.testing.assert_allclose(tensor.numpy(), out, atol=1e-6)
    one = model.enhance(torch.from_numpy(batch[1]), rate)
    assert one.shape == (rate // 2,) and one.dtype == torch.float32
    np.testing.assert_allclose(one.numpy(), out[1], atol=1e-6)


def test_bad_inputs_are_clear_errors(paths):
    model = mal.load(paths[0], device="cpu")
    with pytest.raises(ValueError, match=r"\[time\] or \[batch, time\], got shape \(1, 2, 100\)"):
        model.enhance(np.zeros((1, 2, 100), np.float32), 16000)
    with pytest.raises(TypeError, match="float samples"):
        model.enhance(np.zeros(100, np.int16), 16000)


@pytest.mark.parametrize("rate", [16000, 48000])
def test_stream_of_a_causal_model_equals_offline(paths, rate):
    model = mal.load(paths[1], device="cpu", norm_rms=None)  # a stream has no whole-file level
    x = signal(rate, 3)
    stream = model.stream(rate)
    pieces = [stream.feed(torch.from_numpy(x[i : i + 333])) for i in range(0, len(x), 333)] + [stream.flush()]
    assert all(isinstance(p, torch.Tensor) for p in pieces)
    streamed = torch.cat(pieces).numpy()
    assert streamed.shape == x.shape
    offline = model.enhance(x, rate)
    tolerance = 1e-5 if rate == model.sample_rate else 2e-3  # soxr's stream vs one-shot resampling
    np.testing.assert_allclose(streamed, offline, atol=tolerance)


def test_a_non_causal_model_does_not_stream(paths):
    with pytest.raises(StreamingError, match="not causal"):
        mal.load(paths[0], device="cpu").stream()


def test_no_argument_means_the_shipped_default(monkeypatch):
    from mal.models import shipped

    monkeypatch.setattr(shipped, "DEFAULT_MODEL", None)
    with pytest.raises(shipped.ShippedModelError, match="no model ships with this mal yet"):
        mal.load()


def test_the_low_level_enhancer_names_the_api_for_tensors(paths):
    with pytest.raises(TypeError, match=r"mal.load\(...\).enhance\(x, rate\) takes numpy or torch"):
        Enhancer.from_checkpoint(paths[0]).enhance(torch.zeros(1600), 16000)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_a_nan_or_inf_sample_is_refused_naming_it(paths, as_tensor):
    model = mal.load(paths[0], device="cpu")
    x = signal(1600)
    x[123] = np.nan
    batch = np.stack([signal(1600, 1), signal(1600, 2)])
    batch[1, 7] = -np.inf
    wrap = torch.from_numpy if as_tensor else (lambda a: a)
    with pytest.raises(ValueError, match=r"input: sample 123 is nan \(NaN or inf samples would make the whole output NaN\)"):
        model.enhance(wrap(x), 16000)
    with pytest.raises(ValueError, match=r"input: row 1, sample 7 is -inf"):
        model.enhance(wrap(batch), 16000)


def test_a_stream_refuses_a_nan_block_naming_the_sample_and_goes_on(paths):
    model = mal.load(paths[1], device="cpu", norm_rms=None)
    stream = model.stream()
    first = stream.feed(signal(400))
    bad = signal(400, 1)
    bad[5] = np.inf
    with pytest.raises(ValueError, match=r"block at stream sample 400: sample 5 is inf"):
        stream.feed(bad)
    rest = [stream.feed(signal(400, 2)), stream.flush()]
    out = np.concatenate([first] + rest)
    assert out.shape == (800,) and np.all(np.isfinite(out))  # the refused block left no trace


@pytest.mark.parametrize("rate, why", [
    (1, r"sample rate 1 Hz is outside 1000\.\.384000 Hz"),
    (999, r"sample rate 999 Hz is outside"),
    (400_000, r"sample rate 400000 Hz is outside"),
    (16000.5, r"sample rate must be a whole number of Hz, got 16000\.5"),
    ("16k", r"sample rate must be a number of Hz, got '16k'"),
])
def test_sample_rates_outside_1k_to_384k_are_refused(paths, rate, why):
    model = mal.load(paths[0], device="cpu")
    with pytest.raises(ValueError, match=why):
        model.enhance(signal(10), rate)  # 10 samples at 1 Hz: 160000 at the model's rate, not refused before


def test_edge_rates_and_whole_float_rates_are_accepted(paths):
    model = mal.load(paths[0], device="cpu")
    assert model.enhance(signal(100), 1000).shape == (100,)
    np.testing.assert_array_equal(model.enhance(signal(800), 16000.0), model.enhance(signal(800), 16000))


@pytest.mark.parametrize("rate", [0, -16000, 500])
def test_stream_refuses_a_non_positive_or_tiny_rate(paths, rate):
    model = mal.load(paths[1], device="cpu")
    with pytest.raises(ValueError, match=rf"stream sample rate {rate} Hz is outside 1000\.\.384000 Hz"):
        model.stream(rate)
    assert model.stream().rate == model.sample_rate  # None: the model's rate


@pytest.mark.parametrize("gain", [0.0, -1.0, float("nan")])
def test_stream_refuses_a_gain_that_is_not_positive(paths, gain):
    with pytest.raises(ValueError, match="stream gain must be a positive number"):
        mal.load(paths[1], device="cpu").stream(gain=gain)
