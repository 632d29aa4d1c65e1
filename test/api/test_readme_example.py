"""The README's Python API example runs as written."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import soundfile as sf

from api_models import save_model

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    section = (ROOT / "README.md").read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs(tmp_path, monkeypatch):
    code = readme_example()
    for path in re.findall(r'mal\.load\("([^"]+)"\)', code):
        save_model(tmp_path / path, causal="causal" in path)
    rate = 16000
    noisy = (0.1 * np.random.default_rng(0).standard_normal(rate)).astype(np.float32)
    sf.write(tmp_path / "noisy.wav", noisy, rate, subtype="FLOAT")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    clean, _ = sf.read(tmp_path / "clean.wav", dtype="float32")
    assert clean.shape == noisy.shape and not np.allclose(clean, noisy, atol=1e-3)  # the model changed the audio
    streamed = np.concatenate(namespace["out"])
    assert streamed.shape == noisy.shape
