"""Small real training data for the trainer tests: harmonic "speech" plus noise, as Kaldi data dirs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import soundfile as sf
import yaml

SR = 16000


def harmonic_speech(seconds: float, f0: float, seed: int, sr: int = SR) -> np.ndarray:
    """A voiced-speech-like signal: harmonics of a gliding f0 under a syllable-rate envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0_track = f0 * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 3) * t))
    phase = 2 * np.pi * np.cumsum(f0_track) / sr
    wav = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 2 * np.pi))) ** 2
    wav = wav * envelope
    return (0.3 * wav / np.max(np.abs(wav))).astype(np.float32)


def make_data_dir(path: Path, num: int = 8, seconds: float = 1.0, seed: int = 0, snr_db: float = 5.0,
                  lengths: bool = True, sr: int = SR) -> Path:
    """``path`` with wav.scp (noisy), spk1.scp (clean), utt2spk, spk2utt and utt2num_samples."""
    path.mkdir(parents=True, exist_ok=True)
    wavs = path / "wavs"
    wavs.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    noisy_scp, clean_scp, utt2spk, utt2num = [], [], [], []
    for i in range(num):
        key = f"utt{seed}_{i:03d}"
        n = int(seconds * sr * (1.0 + 0.25 * (i % 3)))  # varied lengths: 1x, 1.25x, 1.5x
        clean = harmonic_speech(n / sr, 100 + 15 * i, seed * 1000 + i, sr)
        noise = rng.standard_normal(n).astype(np.float32)
        noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
        sf.write(wavs / f"{key}_clean.wav", clean, sr, subtype="FLOAT")
        sf.write(wavs / f"{key}_noisy.wav", clean + noise, sr, subtype="FLOAT")
        noisy_scp.append(f"{key} {wavs / f'{key}_noisy.wav'}\n")
        clean_scp.append(f"{key} {wavs / f'{key}_clean.wav'}\n")
        utt2spk.append(f"{key} spk{i % 2}\n")
        utt2num.append(f"{key} {n}\n")
    (path / "wav.scp").write_text("".join(noisy_scp))
    (path / "spk1.scp").write_text("".join(clean_scp))
    (path / "utt2spk").write_text("".join(utt2spk))
    speakers = sorted({line.split()[1] for line in utt2spk})
    (path / "spk2utt").write_text("".join(
        f"{s} {' '.join(line.split()[0] for line in utt2spk if line.split()[1] == s)}\n" for s in speakers))
    if lengths:
        (path / "utt2num_samples").write_text("".join(utt2num))
    return path


def tiny_config(**sections: Dict[str, Any]) -> Dict[str, Any]:
    """A fast training config for the tiny model; ``sections`` update each section."""
    config: Dict[str, Any] = {
        "sample_rate": SR,
        "model": {"name": "tiny", "conf": {"channels": 8, "depth": 2}},
        "criterions": [{"name": "l1", "weight": 1.0}],
        "optim": {"name": "adam", "lr": 3.0e-3},
        "scheduler": {"name": "constant"},
        "batch": {"batch_size": 4, "segment_seconds": 0.5, "num_workers": 0},
        "train": {"max_epochs": 3, "seed": 0, "keep_nbest": 2, "amp": False},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name].update(value)
        else:
            config[name] = value
    return config


def write_config(path: Path, config: Optional[Dict[str, Any]] = None, **sections: Any) -> Path:
    path.write_text(yaml.safe_dump(config or tiny_config(**sections), sort_keys=False))
    return path
