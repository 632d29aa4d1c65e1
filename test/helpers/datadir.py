"""A Kaldi data dir of generated noisy/clean pairs (harmonic "speech" in white noise)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from helpers.audio import SR, add_noise, harmonic


def make_data_dir(path: Path, num: int = 8, seconds: float = 1.0, seed: int = 0, snr_db: float = 5.0,
                  lengths: bool = True, sr: int = SR) -> Path:
    """``path`` with wav.scp (noisy), spk1.scp (clean), utt2spk, spk2utt and utt2num_samples.

    Keys are ``utt<seed>_<i>``; lengths cycle through 1, 1.25 and 1.5 times ``seconds``.
    """
    path.mkdir(parents=True, exist_ok=True)
    wavs = path / "wavs"
    wavs.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    noisy_scp, clean_scp, utt2spk, utt2num = [], [], [], []
    for i in range(num):
        key = f"utt{seed}_{i:03d}"
        n = int(seconds * sr * (1.0 + 0.25 * (i % 3)))
        clean = harmonic(n / sr, 100 + 15 * i, seed * 1000 + i, sr)
        sf.write(wavs / f"{key}_clean.wav", clean, sr, subtype="FLOAT")
        sf.write(wavs / f"{key}_noisy.wav", add_noise(clean, snr_db, rng), sr, subtype="FLOAT")
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
