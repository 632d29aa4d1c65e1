"""Audio helpers for the loss tests: flite sentences at 16 kHz (harmonic tones without flite), noise."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

SR = 16000
SENTENCES = {
    "a": "Please call Stella and ask her to bring these things with her from the store.",
    "b": "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack.",
}
VOICES = ("kal16", "slt", "awb", "rms")


def harmonic(seconds: float, f0: float, seed: int) -> np.ndarray:
    """A speech-like fallback: a gliding harmonic tone with a syllable-rate envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    wav = sum(np.sin(k * phase + rng.uniform(0, 6.3)) / k for k in range(1, 12))
    return (0.1 * wav * (0.55 + 0.45 * np.sin(2 * np.pi * 3.5 * t))).astype(np.float32)


def synthesize(voice: str, text: str, out: Path) -> np.ndarray:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, capture_output=True)
    wav, rate = sf.read(out, dtype="float32")
    assert rate == SR, f"flite voice {voice} wrote {rate} Hz"
    return wav


def add_noise(clean: torch.Tensor, snr_db: float, seed: int = 0) -> torch.Tensor:
    """White noise at ``snr_db`` relative to each row of ``clean``."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(clean.shape, generator=gen)
    scale = clean.pow(2).mean(-1, keepdim=True).sqrt() / noise.pow(2).mean(-1, keepdim=True).sqrt()
    return clean + noise * scale * 10 ** (-snr_db / 20)


#: three increasing noise levels (SNR in dB)
NOISE_LEVELS = (20.0, 10.0, 0.0)


def assert_monotone(values, what: str) -> None:
    assert all(a < b for a, b in zip(values, values[1:])), f"{what} does not grow with the noise level: {values}"
