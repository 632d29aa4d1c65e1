"""Fixtures of the ASR tests: three flite sentences, clean and at 0 dB (white noise or babble)."""
from __future__ import annotations

from typing import Dict

import numpy as np
import pytest
from asr_data import BABBLE, SENTENCES, babble_like, mix_at_snr, synthesize


@pytest.fixture(scope="session")
def signals(tmp_path_factory) -> Dict[str, Dict[str, np.ndarray]]:
    """``{"clean"|"noisy": {key: waveform}}``; noisy: 0 dB SNR, white noise for ``utt1``,
    babble of four other flite talkers for ``utt2`` and ``utt3``."""
    out = tmp_path_factory.mktemp("flite")
    clean = {key: synthesize(voice, text, out / f"{key}.wav") for key, (voice, text) in SENTENCES.items()}
    talkers = {f"b{i}": synthesize(v, t, out / f"b{i}.wav") for i, (v, t) in enumerate(BABBLE)}
    rng = np.random.default_rng(0)
    noisy = {"utt1": mix_at_snr(clean["utt1"], rng.standard_normal(len(clean["utt1"])), 0.0)}
    noisy.update({k: mix_at_snr(clean[k], babble_like(len(clean[k]), talkers), 0.0) for k in ("utt2", "utt3")})
    return {"clean": clean, "noisy": noisy}


@pytest.fixture(scope="session")
def recognizer():
    from mal.asr import build_recognizer

    return build_recognizer("pocketsphinx")
