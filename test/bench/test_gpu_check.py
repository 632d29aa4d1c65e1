"""bench/gpu_check.sh: its syntax, its exit without a CUDA device, and its CPU-side helpers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from bench import gpu_check  # noqa: E402


def test_script_syntax():
    subprocess.run(["bash", "-n", str(REPO / "bench" / "gpu_check.sh")], check=True)


def test_no_cuda_device_is_a_clean_exit(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([str(REPO / "bench" / "gpu_check.sh"), str(tmp_path / "work")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "gpu_check: no CUDA device (torch.cuda.is_available() is False); no check was run"
    assert proc.stderr == "" and not (tmp_path / "work").exists()


def test_data_and_same_audio(tmp_path, capsys):
    assert gpu_check.main(["data", str(tmp_path / "d")]) == 0
    scp = tmp_path / "d" / "test" / "wav.scp"
    assert len(scp.read_text().splitlines()) == 4
    assert gpu_check.main(["same-audio", str(scp), str(scp)]) == 0
    other = tmp_path / "other.scp"
    lines = []
    for line in scp.read_text().splitlines():
        key, path = line.split()
        wav, sr = sf.read(path, dtype="float32")
        sf.write(tmp_path / f"{key}.wav", wav + 0.05 * np.random.default_rng(0).standard_normal(wav.size).astype(np.float32), sr, subtype="FLOAT")
        lines.append(f"{key} {tmp_path / f'{key}.wav'}\n")
    other.write_text("".join(lines))
    assert gpu_check.main(["same-audio", str(scp), str(other), "--min-snr", "40"]) == 1


def test_same_weights(tmp_path):
    from mal.models.checkpoint import save_checkpoint

    state = {"w": torch.ones(3)}
    for name, value in (("a", 1.0), ("b", 1.0), ("c", 1.0 + 1e-7)):
        save_checkpoint(tmp_path / f"{name}.pth", {"model": {"name": "tiny", "conf": {}, "state_dict": {"w": state["w"] * value}}})
    assert gpu_check.main(["same-weights", str(tmp_path / "a.pth"), str(tmp_path / "b.pth")]) == 0
    assert gpu_check.main(["same-weights", str(tmp_path / "a.pth"), str(tmp_path / "c.pth")]) == 1
