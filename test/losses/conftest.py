"""Fixtures for the loss tests: small real audio (see loss_audio.py)."""
from __future__ import annotations

import shutil
from typing import Dict

import numpy as np
import pytest
import torch

from helpers.audio import harmonic
from loss_audio import SENTENCES, VOICES, synthesize


@pytest.fixture(scope="session")
def utterances(tmp_path_factory) -> Dict[str, np.ndarray]:
    """``{"<voice>_<sentence>": float32 waveform}`` for 4 voices x 2 sentences (>= 1.5 s each)."""
    out = tmp_path_factory.mktemp("flite")
    if shutil.which("flite") is None:
        return {f"{v}_{s}": harmonic(2.0, 90 + 40 * i + 7 * j, 10 * i + j) for i, v in enumerate(VOICES) for j, s in enumerate(SENTENCES)}
    return {f"{v}_{s}": synthesize(v, text, out / f"{v}_{s}.wav") for v in VOICES for s, text in SENTENCES.items()}


@pytest.fixture(scope="session")
def speech(utterances) -> torch.Tensor:
    """[2, 24000]: two different 1.5-s utterances."""
    return torch.from_numpy(np.stack([utterances["kal16_a"][:24000], utterances["slt_b"][:24000]]))



@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models run fastest on one thread, and the CPU is shared (busy cores make 2 threads ~10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
