"""A tiny recipe directory for the bench scripts' tests: tones in hiss, a noise pool, a config."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

SR = 16000


def make_recipe(root: Path) -> Path:
    """A tiny recipe dir: data/train (noisy/clean pairs), data/train_noise, conf/warmup.yaml."""
    rng = np.random.default_rng(0)
    for sub in ("data/train", "data/train_noise", "wav"):
        (root / sub).mkdir(parents=True)
    wav, spk1, noise, utt2spk = [], [], [], []
    for i in range(6):
        t = np.arange(SR) / SR
        clean = (0.1 * np.sin(2 * np.pi * (150 + 20 * i) * t)).astype(np.float32)
        hiss = (0.05 * rng.standard_normal(SR)).astype(np.float32)
        for name, x in (("clean", clean), ("noisy", clean + hiss), ("noise", hiss)):
            sf.write(root / "wav" / f"{name}{i}.wav", x, SR)
        wav.append(f"u{i} {root / 'wav' / f'noisy{i}.wav'}\n")
        spk1.append(f"u{i} {root / 'wav' / f'clean{i}.wav'}\n")
        noise.append(f"n{i} {root / 'wav' / f'noise{i}.wav'}\n")
        utt2spk.append(f"u{i} s{i % 2}\n")
    for name, lines in (("data/train/wav.scp", wav), ("data/train/spk1.scp", spk1), ("data/train/utt2spk", utt2spk),
                        ("data/train_noise/wav.scp", noise)):
        (root / name).write_text("".join(lines))
    (root / "data/train/spk2utt").write_text("s0 u0 u2 u4\ns1 u1 u3 u5\n")
    config = {"model": {"name": "tiny", "conf": {"channels": 4, "depth": 2}}, "criterions": [{"name": "l1"}],
              "dynamic_mixing": {"noise_scp": "data/train_noise/wav.scp"}}
    (root / "warmup.yaml").write_text(yaml.safe_dump(config))
    return root
