"""Audio for the loss tests: flite sentences at 16 kHz (helpers.audio.harmonic without flite)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
SENTENCES = {
    "a": "Please call Stella and ask her to bring these things with her from the store.",
    "b": "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack.",
}
VOICES = ("kal16", "slt", "awb", "rms")


def synthesize(voice: str, text: str, out: Path) -> np.ndarray:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, capture_output=True)
    wav, rate = sf.read(out, dtype="float32")
    assert rate == SR, f"flite voice {voice} wrote {rate} Hz"
    return wav


#: three increasing noise levels (SNR in dB)
NOISE_LEVELS = (20.0, 10.0, 0.0)


def assert_monotone(values, what: str) -> None:
    assert all(a < b for a, b in zip(values, values[1:])), f"{what} does not grow with the noise level: {values}"
