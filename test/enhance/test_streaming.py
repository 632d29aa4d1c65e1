"""Streaming enhancement: block driving equals offline; clear errors for models that cannot stream."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

import mal
from enhance_toys import FirModel
from helpers.audio import add_noise, harmonic
from mal.enhance.chunked import enhance_chunked, run_model
from mal.enhance.streaming import StreamingError, check_streamable, enhance_streaming
from mal.models import build_model

#: streamed vs offline output (peak ~0.3-0.5): float rounding only (measured up to 1e-7)
STREAM_TOLERANCE = 2e-6


@pytest.mark.parametrize("block_seconds", [0.016, 0.01, 0.0137, 1.0])
def test_streaming_equals_offline_for_a_causal_model(block_seconds):
    model = FirModel(taps=31, causal=True)
    wav = add_noise(harmonic(0.77), 5.0, seed=1)
    offline = enhance_chunked(model, wav, chunk_seconds=0)
    streamed = enhance_streaming(model, wav, block_seconds=block_seconds)
    assert streamed.shape == wav.shape
    np.testing.assert_allclose(streamed, offline, atol=1e-6)


def test_streaming_without_file_normalisation_equals_raw_forward():
    model = FirModel(taps=31, causal=True)
    wav = add_noise(harmonic(0.5), 5.0, seed=1)
    raw = run_model(model, wav, torch.device("cpu"))
    np.testing.assert_allclose(enhance_streaming(model, wav, 0.016, norm_rms=None), raw, atol=1e-6)


def test_non_causal_model_is_refused_by_name():
    with pytest.raises(StreamingError, match="FirModel is not causal"):
        enhance_streaming(FirModel(causal=False), np.zeros(1600, dtype=np.float32))
    with pytest.raises(StreamingError, match="not causal"):
        check_streamable(build_model("tiny"))


def test_causal_model_without_streamer_is_refused():
    class NoStreamer(FirModel):
        supports_streaming = False

    with pytest.raises(StreamingError, match="no streamer"):
        check_streamable(NoStreamer(causal=True))


@pytest.mark.parametrize("block_seconds", [0.016, 0.01, 0.0071])
def test_tfmask_streaming_equals_offline(block_seconds):
    torch.manual_seed(0)
    model = build_model("tfmask", causal=True).eval()
    wav = add_noise(harmonic(1.0), 5.0, seed=1)
    offline = enhance_chunked(model, wav, chunk_seconds=0)
    streamed = enhance_streaming(model, wav, block_seconds=block_seconds)
    assert streamed.shape == wav.shape
    assert np.max(np.abs(streamed - offline)) < STREAM_TOLERANCE


@pytest.fixture(scope="module")
def shipped():
    """The default shipped model (a causal TFMaskNet)."""
    return mal.load(device="cpu").network


@pytest.mark.parametrize("block_seconds", [0.016, 0.0071, 0.5])
def test_shipped_model_streams_as_offline(shipped, block_seconds):
    wav = add_noise(harmonic(1.3), 0.0, seed=2)
    offline = enhance_chunked(shipped, wav, chunk_seconds=0)
    streamed = enhance_streaming(shipped, wav, block_seconds=block_seconds)
    assert streamed.shape == wav.shape
    assert np.max(np.abs(streamed - offline)) < STREAM_TOLERANCE
    assert np.max(np.abs(offline - wav)) > 1e-2  # it really enhances


class OpCounter(TorchDispatchMode):
    """Counts the tensor operations that reach the dispatcher."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def test_a_16ms_block_costs_few_tensor_ops_and_no_module_calls(shipped):
    """The per-block cost of streaming is bounded: each 16 ms block (two STFT frames) runs the
    network step as plain tensor ops (no nn.Module call overhead) and at most 60 of them,
    views included (the first streamer needed 116 and 12 module calls, the next one 84)."""
    wav = torch.from_numpy(add_noise(harmonic(0.6), 5.0, seed=3))
    streamer = shipped.streamer()
    calls = []
    hook = register_module_forward_pre_hook(lambda module, args: calls.append(type(module).__name__))
    try:
        with torch.inference_mode():
            for start in range(0, 2048, 256):  # past the start-up blocks
                streamer.feed(wav[start : start + 256])
            blocks = range(2048, len(wav) - 256, 256)
            with OpCounter() as ops:
                for start in blocks:
                    assert streamer.feed(wav[start : start + 256]).numel() == 256
    finally:
        hook.remove()
    assert calls == []
    assert ops.count <= 60 * len(blocks)


def test_masks_of_steps_with_one_block_shape_are_new_tensors(shipped):
    """stream_frames reuses its buffers for every block of one shape; the masks it returns are
    new tensors, so masks kept from earlier steps are still the offline ones."""
    wav = torch.from_numpy(add_noise(harmonic(0.3), 5.0, seed=4))[None]
    with torch.no_grad():
        spec = shipped.stft(wav).transpose(1, 2)  # [1, frames, bins]
        outs, bottleneck, _ = shipped.encode_frames(shipped.features(spec.transpose(1, 2)))
        expected = torch.complex(*shipped.decode_frames(outs, bottleneck))
        masks, state = [], None
        for start in range(0, spec.shape[1] - 1, 2):
            mask, state = shipped.stream_frames(spec[:, start : start + 2], state)
            masks.append(mask)
    got = torch.cat(masks, dim=1)
    assert got.shape[1] >= spec.shape[1] - 1
    assert (got - expected[:, : got.shape[1]]).abs().max() < STREAM_TOLERANCE
    assert (expected - 1).abs().max() > 1e-2


def test_a_streamer_fed_in_and_out_of_inference_mode_equals_offline(shipped):
    """Blocks fed under no_grad, inference_mode and with grad enabled, in turn, on one streamer
    (its kept buffers are per mode: inference tensors cannot be written outside it)."""
    x = torch.from_numpy(add_noise(harmonic(0.5), 5.0, seed=5))
    with torch.no_grad():
        offline = shipped(x[None])[0]
    streamer = shipped.streamer()
    modes = [torch.no_grad, torch.inference_mode, torch.enable_grad]
    outs = []
    for index, start in enumerate(range(0, len(x), 256)):
        with modes[index % len(modes)]():
            outs.append(streamer.feed(x[start : start + 256]))
    outs.append(streamer.flush())
    got = torch.cat(outs)
    assert got.shape == offline.shape
    assert (got - offline).abs().max() < STREAM_TOLERANCE


@pytest.mark.parametrize(
    "conf",
    [{"skips": False}, {"time_kernel": 2, "up_kernel": 4}, {"causal": False, "time_kernel": 3}, {"mask": "gain", "features": ["log", "compressed"]},
     {"mask": "gain", "mask_bound": 1.0, "mask_floor": 0.05}],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_stream_frames_of_a_batch_equals_offline_decoding(conf):
    """stream_frames' channels-last buffers on a batch of two signals, over steps of 7, 2 and the
    rest of the frames (one step for a non-causal model), for geometries beside the shipped one."""
    conf = {"causal": True, **conf}
    torch.manual_seed(0)
    model = build_model("tfmask", n_fft=256, hop_length=64, channels=[4, 8], rnn_hidden=16, **conf).eval()
    torch.nn.init.normal_(model.decoder[-1].conv.weight, std=0.3)  # a mask that is not the identity
    wav = torch.from_numpy(np.stack([add_noise(harmonic(0.25), 5.0, seed=s) for s in (6, 7)]))
    with torch.no_grad():
        spec = model.stft(wav).transpose(1, 2)  # [2, frames, bins]
        outs, bottleneck, _ = model.encode_frames(model.features(spec.transpose(1, 2)))
        expected = torch.complex(*model.decode_frames(outs, bottleneck))
        bounds = [0, 7, 9, spec.shape[1]] if model.causal else [0, spec.shape[1]]
        masks, state = [], None
        for lo, hi in zip(bounds, bounds[1:]):
            mask, state = model.stream_frames(spec[:, lo:hi], state)
            masks.append(mask)
    got = torch.cat(masks, dim=1)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < STREAM_TOLERANCE
    assert (expected - 1).abs().max() > 1e-2
