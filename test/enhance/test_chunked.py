"""Chunked overlap-add enhancement: spans, seams, equality with one pass, file-level scale."""
from __future__ import annotations

import numpy as np
import pytest

from enhance_toys import FirModel, IdentityModel
from helpers.audio import add_noise, harmonic
from mal.enhance.chunked import EnhanceError, chunk_spans, enhance_chunked, fade_in, run_model

RATE = 16000


@pytest.mark.parametrize("length", [1, 799, 800, 4000, 4001, 7199, 7200, 7201, 9999, 32000])
def test_spans_cover_signal_with_fixed_overlap(length):
    chunk, overlap = 4000, 800
    spans = list(chunk_spans(length, chunk, overlap))
    assert spans[0][0] == 0 and spans[-1][1] == length
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert e0 - s0 == chunk, "only the last chunk may be shorter"
        assert e0 - s1 == overlap
    if len(spans) > 1:
        assert spans[-1][1] - spans[-1][0] > overlap, "the last chunk must hold a whole fade-in"


def test_spans_reject_overlap_above_half_chunk():
    with pytest.raises(EnhanceError, match="overlap"):
        list(chunk_spans(10000, 1000, 600))


def test_fades_are_complementary():
    ramp = fade_in(800)
    np.testing.assert_allclose(ramp[::-1], 1 - ramp, atol=1e-6)  # fade-out mirrors fade-in
    assert ramp[0] < 1e-5 and ramp[-1] > 1 - 1e-5 and np.all(np.diff(ramp) > 0)


@pytest.mark.parametrize("seconds", [0.03, 0.25, 0.3, 1.0, 1.7])
def test_identity_model_passes_signal_unchanged(seconds):
    wav = add_noise(harmonic(seconds), 5.0, seed=1)
    out = enhance_chunked(IdentityModel(), wav, chunk_seconds=0.25, overlap_seconds=0.05)
    assert out.shape == wav.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, wav, atol=1e-6)


def _worst_seam(y: np.ndarray, edges: list, half: int = 2, context: int = 160) -> float:
    """Max over edges of the squared first difference at the edge / its local mean (1 = no seam)."""
    d2 = np.diff(y.astype(np.float64)) ** 2
    ratios = []
    for e in edges:
        at_edge = d2[e - half : e + half].mean()
        around = np.r_[d2[e - context : e - 4 * half], d2[e + 4 * half : e + context]].mean()
        ratios.append(at_edge / around)
    return float(max(ratios))


@pytest.mark.parametrize("causal", [False, True])
def test_chunked_matches_one_pass_and_has_no_seams(causal):
    model = FirModel(taps=31, causal=causal)
    wav = harmonic(2.0)
    full = enhance_chunked(model, wav, chunk_seconds=0)  # one pass, same file normalisation
    chunk, overlap = 0.25, 0.05
    out = enhance_chunked(model, wav, chunk_seconds=chunk, overlap_seconds=overlap)
    spans = list(chunk_spans(len(wav), int(chunk * RATE), int(overlap * RATE)))
    assert len(spans) == 10
    edges = sorted({s for s, _ in spans[1:]} | {e for _, e in spans[:-1]})

    # Exactly the one-pass output wherever no chunk edge is within the receptive field.
    far = np.ones(len(wav), dtype=bool)
    for e in edges:
        far[max(0, e - 31) : e + 31] = False
    np.testing.assert_allclose(out[far], full[far], atol=1e-5)
    # Near the edges the cross-fade keeps the error tiny (weights there are close to 0 or 1).
    assert np.max(np.abs(out - full)) < 1e-2 * np.max(np.abs(full))
    # No seam: across chunk edges the output changes no more abruptly than the one-pass output ...
    assert _worst_seam(out, edges) < 1.05 * _worst_seam(full, edges)
    # ... while hard-cut chunks (no overlap) of the same model do show seams at the cuts.
    cut = enhance_chunked(model, wav, chunk_seconds=chunk, overlap_seconds=0.0)
    cuts = [s for s, _ in chunk_spans(len(wav), int(chunk * RATE), 0)][1:]
    assert _worst_seam(cut, cuts) > 5 * _worst_seam(full, cuts)


def test_short_signal_goes_through_in_one_pass():
    model = FirModel(taps=31)
    wav = add_noise(harmonic(0.2), 5.0, seed=1)
    out = enhance_chunked(model, wav, chunk_seconds=10.0, overlap_seconds=1.0, norm_rms=None)
    np.testing.assert_allclose(out, run_model(model, wav, model.conv.weight.device), atol=1e-7)


@pytest.mark.parametrize("scale", [0.003, 0.5, 4.0])
def test_output_level_follows_input_scale(scale):
    model = FirModel(taps=31, gain=20.0)  # tanh makes it scale-dependent without the file normalisation
    wav = add_noise(harmonic(1.0), 5.0, seed=1)
    ref = enhance_chunked(model, wav, chunk_seconds=0.4, overlap_seconds=0.1)
    out = enhance_chunked(model, wav * np.float32(scale), chunk_seconds=0.4, overlap_seconds=0.1)
    np.testing.assert_allclose(out, ref * scale, rtol=1e-4, atol=1e-6 * scale)
    raw = enhance_chunked(model, wav * np.float32(scale), chunk_seconds=0.4, overlap_seconds=0.1, norm_rms=None)
    mismatch = np.max(np.abs(raw - ref * scale)) / np.max(np.abs(ref * scale))
    assert mismatch > 0.05, "the model is scale-dependent: without normalisation the output shape would change"


def test_silent_input_is_not_amplified_and_stays_finite():
    out = enhance_chunked(FirModel(), np.zeros(8000, dtype=np.float32), chunk_seconds=0.25, overlap_seconds=0.05)
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) == 0.0


def test_rejects_multichannel_input():
    with pytest.raises(EnhanceError, match="1-D"):
        enhance_chunked(IdentityModel(), np.zeros((2, 100), dtype=np.float32))
