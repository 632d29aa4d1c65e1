"""Property tests over random short audio (0..4000 samples, odd lengths, extreme values) through
the training loader, every registered model's forward and mal.enhance.chunked.

Documented behaviour checked here:
- loader: an empty file is an AudioError/DataDirError naming the key; anything else loads with
  its exact length and samples (segments zero-padded to the segment length);
- models: any length (0 included) gives an output of the input's shape; the output is finite
  for inputs within +-1e4 (any real file's level; larger values may overflow float32 power);
- chunked: any length, chunk and overlap give an output of the input's length, finite for
  every finite input (the file is scaled to a fixed RMS first), or an EnhanceError for an
  invalid overlap; a non-finite result of the full Enhancer is an EnhanceError naming the key.
(Scp-line fuzzing: test/io/test_io_fuzz.py.)
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mal.enhance.chunked import EnhanceError, chunk_spans, enhance_chunked
from mal.enhance.inference import EnhanceOptions, Enhancer
from mal.io import AudioError, DataDirError
from mal.models import MODEL_REGISTRY, build_model
from mal.train.dataset import SegmentDataset, UtteranceDataset

SR = 16000
SPECIAL_LENGTHS = [0, 1, 2, 3, 7, 127, 255, 256, 257, 511, 512, 513, 1023, 4000]
AMPLITUDES = [0.0, 1e-38, 1e-7, 1e-3, 0.5, 1.0, 1.5, 1e4, 3e38]
SHAPES = ["noise", "constant", "alternating", "impulse", "clipped_sine", "uniform"]

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def make_signal(length: int, shape: str, amplitude: float, seed: int) -> np.ndarray:
    """A float32 signal of ``length`` samples, peak ``amplitude`` (never NaN/inf)."""
    rng = np.random.default_rng(seed)
    if shape == "noise":
        x = rng.standard_normal(length)
        x = x / max(np.max(np.abs(x)), 1e-30) if length else x
    elif shape == "constant":
        x = np.ones(length)
    elif shape == "alternating":
        x = np.where(np.arange(length) % 2 == 0, 1.0, -1.0)
    elif shape == "impulse":
        x = np.zeros(length)
        if length:
            x[rng.integers(length)] = 1.0
    elif shape == "clipped_sine":
        x = np.clip(5 * np.sin(2 * np.pi * rng.uniform(50, 4000) * np.arange(length) / SR), -1, 1)
    else:
        x = rng.uniform(-1, 1, length)
    return (np.asarray(x, dtype=np.float64) * amplitude).astype(np.float32)


signals = st.builds(
    make_signal,
    length=st.one_of(st.sampled_from(SPECIAL_LENGTHS), st.integers(0, 4000)),
    shape=st.sampled_from(SHAPES),
    amplitude=st.sampled_from(AMPLITUDES),
    seed=st.integers(0, 2**16),
)


# --- the training loader ------------------------------------------------------------------------


@FUZZ
@given(noisy=signals, segment_seconds=st.sampled_from([0.001, 0.05, 0.25]))
def test_loader_reads_exactly_or_names_the_empty_key(noisy, segment_seconds):
    clean = noisy[::-1].copy()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sf.write(str(d / "n.wav"), noisy, SR, subtype="FLOAT")
        sf.write(str(d / "c.wav"), clean, SR, subtype="FLOAT")
        (d / "wav.scp").write_text(f"utt-x {d}/n.wav\n")
        (d / "spk1.scp").write_text(f"utt-x {d}/c.wav\n")
        if len(noisy) == 0:
            for make in (lambda: SegmentDataset(d, SR, segment_seconds)[0], lambda: UtteranceDataset(d, SR)[0]):
                with pytest.raises((AudioError, DataDirError), match="'utt-x'.*(empty|0 samples)"):
                    make()
            return
        key, n, c = UtteranceDataset(d, SR)[0]
        assert key == "utt-x" and torch.equal(n, torch.from_numpy(noisy)) and torch.equal(c, torch.from_numpy(clean))
        segments = SegmentDataset(d, SR, segment_seconds, seed=1)
        segment = segments.segment
        for epoch in range(2):
            segments.set_epoch(epoch)
            n, c = segments[0]
            assert n.shape == c.shape == (segment,)
            start = segments.offset(0, len(noisy))
            got = min(segment, len(noisy) - start)
            assert torch.equal(n[:got], torch.from_numpy(noisy[start : start + got]))
            assert torch.equal(c[:got], torch.from_numpy(clean[start : start + got]))
            assert not n[got:].any() and not c[got:].any()


# --- every registered model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: build_model(name).eval() for name in sorted(MODEL_REGISTRY)}


@FUZZ
@given(x=signals, batch=st.integers(1, 2))
def test_every_model_keeps_the_shape_and_stays_finite_in_range(models, x, batch):
    wav = torch.from_numpy(x)[None].repeat(batch, 1)
    for name, model in models.items():
        with torch.no_grad():
            y = model(wav)
        assert y.shape == wav.shape, f"{name}: {tuple(y.shape)} for input {tuple(wav.shape)}"
        if float(np.max(np.abs(x), initial=0.0)) <= 1e4:
            assert torch.isfinite(y).all(), f"{name}: non-finite output for a signal of peak {np.max(np.abs(x))}"


# --- chunked enhancement ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_models():
    torch.manual_seed(0)
    confs = {"tiny": {"channels": 4}, "demucs": {"hidden": 4, "depth": 2, "lstm_layers": 1},
             "tfmask": {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "rnn_hidden": 16},
             "bandgru": {"num_bands": 8, "hidden": 16, "rnn_layers": 1},
             "dpcrn": {"n_fft": 256, "hop_length": 128, "channels": [4, 8], "hidden": 8},
             "dfnet": {"num_bands": 8, "df_bins": 16, "df_order": 3, "channels": 4, "hidden": 8, "rnn_layers": 1}}
    assert set(confs) == set(MODEL_REGISTRY)
    return {name: build_model(name, **conf).eval() for name, conf in confs.items()}


@FUZZ
@given(x=signals, chunk_ms=st.integers(0, 300), overlap_fraction=st.floats(0.0, 0.6), norm=st.booleans())
def test_chunked_keeps_length_and_is_finite(small_models, x, chunk_ms, overlap_fraction, norm):
    chunk_seconds, overlap_seconds = chunk_ms / 1000, overlap_fraction * chunk_ms / 1000
    for name, model in small_models.items():
        chunk = int(round(chunk_seconds * SR)) if chunk_seconds > 0 else len(x)
        invalid = 0 < chunk < len(x) and 2 * int(round(overlap_seconds * SR)) > chunk
        try:
            y = enhance_chunked(model, x, chunk_seconds, overlap_seconds, norm_rms=0.05 if norm else None)
        except EnhanceError as e:
            assert invalid and "overlap" in str(e), f"{name}: unexpected {e}"
            continue
        assert not invalid, f"{name}: an overlap above half the chunk was accepted"
        assert y.shape == x.shape and y.dtype == np.float32, name
        if norm or float(np.max(np.abs(x), initial=0.0)) <= 1e4:
            finite = np.isfinite(y).all()
            # scaling back to a near-float32-max level can overflow: then only the Enhancer's check applies
            assert finite or float(np.max(np.abs(x))) > 1e30, f"{name}: non-finite output (peak {np.max(np.abs(x))})"


@FUZZ
@given(x=signals.filter(lambda s: len(s) > 0))
def test_enhancer_on_files_returns_finite_audio_or_names_the_key(small_models, x):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.wav")
        sf.write(path, x, SR, subtype="FLOAT")
        for name, model in small_models.items():
            enhancer = Enhancer(model, EnhanceOptions(chunk_seconds=0.1, overlap_seconds=0.02))
            try:
                y, rate = enhancer.enhance_entry(path, "utt-x")
            except EnhanceError as e:
                assert "utterance 'utt-x'" in str(e) and "NaN or inf" in str(e), f"{name}: {e}"
                continue
            assert rate == SR and y.shape == x.shape and np.isfinite(y).all(), name


def test_chunk_spans_cover_every_length_exactly():
    for length in range(0, 60):
        for chunk in range(1, 12):
            for overlap in range(0, chunk // 2 + 1):
                spans = list(chunk_spans(length, chunk, overlap))
                covered = np.zeros(length, int)
                for start, end in spans:
                    assert 0 <= start < end <= length or (length == 0 and (start, end) == (0, 0))
                    covered[start:end] += 1
                assert covered.min(initial=1) >= 1 and spans[-1][1] == length
