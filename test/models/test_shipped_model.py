"""The model that ships with mal: registered, verified, documented, and it enhances real speech
through ``mal-enhance IN OUT`` (no --model), ``mal.load()`` and the streaming API."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import mal
from mal.bin.enhance import main as enhance_main
from mal.models import shipped
from mal.score.metrics import score_pair

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed (make -C tools)")


def sisdr(est: np.ndarray, ref: np.ndarray) -> float:
    return score_pair(ref, est, 16000, ["sisdr"])["sisdr"]


@pytest.fixture(scope="module")
def noisy_speech(tmp_path_factory) -> Path:
    """A flite sentence in pink-ish noise at 5 dB SNR, 16 kHz, and its clean reference."""
    root = tmp_path_factory.mktemp("shipped")
    raw = root / "raw.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", "The birch canoe slid on the smooth planks of the old mill.", "-o", str(raw)],
                   check=True)
    clean, rate = sf.read(raw, dtype="float32")
    assert rate == 16000
    clean = 0.1 * clean / np.sqrt(np.mean(clean**2))
    rng = np.random.default_rng(0)
    noise = np.cumsum(rng.standard_normal(len(clean)).astype(np.float32)) * 0.02  # brown-ish
    noise = noise - np.convolve(noise, np.ones(400) / 400, mode="same") + rng.standard_normal(len(clean)).astype(np.float32) * 0.5
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2)) / 10 ** (5 / 20)
    sf.write(root / "clean.wav", clean, rate)
    sf.write(root / "noisy.wav", clean + noise, rate)
    return root


def test_a_default_model_ships_verified_with_its_card():
    assert shipped.DEFAULT_MODEL in shipped.SHIPPED_MODELS
    archive = shipped.resolve_model(None)  # checks the sha256
    assert archive.is_file() and archive.stat().st_size < 10 * 2**20
    card = archive.with_name(f"{shipped.DEFAULT_MODEL}.md")
    text = card.read_text()
    for heading in ("**Training data**", "## Scores", "## Speed", "## Limits", "## Licence"):
        assert heading in text, f"{card}: no '{heading}' section"
    assert archive.with_name(f"{shipped.DEFAULT_MODEL}.scores.json").is_file()


def test_mal_enhance_without_a_model_cleans_speech(noisy_speech, tmp_path):
    out = tmp_path / "enhanced.wav"
    assert enhance_main([str(noisy_speech / "noisy.wav"), str(out)]) == 0
    enhanced, rate = sf.read(out, dtype="float32")
    clean, _ = sf.read(noisy_speech / "clean.wav", dtype="float32")
    noisy, _ = sf.read(noisy_speech / "noisy.wav", dtype="float32")
    assert rate == 16000 and enhanced.shape == noisy.shape
    assert sisdr(enhanced, clean) > sisdr(noisy, clean) + 6.0


def test_the_api_default_is_the_cli_default(noisy_speech, tmp_path):
    noisy, rate = sf.read(noisy_speech / "noisy.wav", dtype="float32")
    model = mal.load()
    enhanced = model.enhance(noisy, rate)
    out = tmp_path / "cli.wav"
    assert enhance_main([str(noisy_speech / "noisy.wav"), str(out)]) == 0
    np.testing.assert_allclose(enhanced, sf.read(out, dtype="float32")[0], atol=1e-4)  # 16-bit file vs float


def test_the_default_model_streams_like_it_runs_offline(noisy_speech):
    noisy, rate = sf.read(noisy_speech / "noisy.wav", dtype="float32")
    clean, _ = sf.read(noisy_speech / "clean.wav", dtype="float32")
    model = mal.load(norm_rms=None)  # a stream has no whole-file level to normalise
    stream = model.stream()
    blocks = [stream.feed(noisy[i : i + 256]) for i in range(0, len(noisy), 256)] + [stream.flush()]
    streamed = np.concatenate(blocks)
    assert streamed.shape == noisy.shape
    np.testing.assert_allclose(streamed, model.enhance(noisy, rate), atol=1e-4)
    assert sisdr(streamed, clean) > sisdr(noisy, clean) + 6.0
