"""Small ASR test data: flite sentences with known text, mixed at 0 dB with white noise or
babble (other flite voices), written as Kaldi data dirs; and a recogniser plug-in for tests."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import soundfile as sf

from mal.asr import AbsRecognizer

SAMPLE_RATE = 16000
#: key -> (flite voice, text as a corpus would write it: case, punctuation, digits)
SENTENCES = {
    "utt1": ("kal16", "The weather is nice today, isn't it?"),
    "utt2": ("rms", "I would like a cup of coffee with milk and sugar."),
    "utt3": ("awb", "We need 12 new chairs for the meeting room."),
}
BABBLE = (
    ("slt", "Six spoons of fresh snow peas, five thick slabs of blue cheese."),
    ("kal16", "A large size in stockings is hard to sell."),
    ("awb", "The quick brown fox jumps over the lazy dog."),
    ("rms", "Please call Stella and ask her to bring these things."),
)


def synthesize(voice: str, text: str, path: Path) -> np.ndarray:
    if shutil.which("flite") is None:
        raise RuntimeError("flite is required for the ASR tests (make -C tools debian installs it)")
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, capture_output=True)
    wav, rate = sf.read(path, dtype="float32")
    assert rate == SAMPLE_RATE, f"flite voice {voice} wrote {rate} Hz"
    return wav


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    noise = noise[: len(clean)].astype(np.float64)
    noise *= np.sqrt(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return np.clip(clean + noise, -1, 1).astype(np.float32)


def babble_like(length: int, talkers: Dict[str, np.ndarray], offset: int = 800) -> np.ndarray:
    """The sum of several other talkers, each looped to ``length`` samples."""
    return sum(np.resize(wav, length + offset)[offset:] for wav in talkers.values())


def write_set(directory: Path, signals: Dict[str, np.ndarray], text: bool = True) -> Path:
    """A data dir with wav.scp (and the known ``text``); returns the dir."""
    (directory / "wav").mkdir(parents=True, exist_ok=True)
    with open(directory / "wav.scp", "w", encoding="utf-8") as scp:
        for key in sorted(signals):
            path = directory / "wav" / f"{key}.wav"
            sf.write(path, signals[key], SAMPLE_RATE, subtype="PCM_16")
            scp.write(f"{key} {path}\n")
    if text:
        with open(directory / "text", "w", encoding="utf-8") as f:
            f.writelines(f"{key} {SENTENCES[key][1]}\n" for key in sorted(signals))
    return directory


class FixedRecognizer(AbsRecognizer):
    """A plug-in for tests (selected as ``asr_data:FixedRecognizer``): always answers ``text``."""

    def __init__(self, text: str):
        self.text = text

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        assert wav.ndim == 1 and wav.dtype == np.float32 and sample_rate == SAMPLE_RATE
        return self.text
