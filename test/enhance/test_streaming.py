"""Streaming enhancement: block driving equals offline; clear errors for models that cannot stream."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from enhance_toys import FirModel
from helpers.audio import add_noise, harmonic
from mal.enhance.chunked import enhance_chunked, run_model
from mal.enhance.streaming import StreamingError, check_streamable, enhance_streaming
from mal.models import build_model


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
    assert np.max(np.abs(streamed - offline)) < 1e-4
