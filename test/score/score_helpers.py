"""Audio for the scoring tests: flite speech (numpy fallback), scp dirs, a scored experiment tree."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import soundfile as sf

from helpers.audio import add_noise

SAMPLE_RATE = 16000
SENTENCES = {
    "utt1": ("kal16", "The quick brown fox jumps over the lazy dog."),
    "utt2": ("slt", "Please call Stella and ask her to bring these things."),
    "utt3": ("rms", "A large size in stockings is hard to sell."),
}


def _numpy_speech(seed: int, seconds: float = 2.0) -> np.ndarray:
    """Harmonic 'syllables' with a gliding pitch and pauses, for machines without flite."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 110 + 30 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.2 * voiced * envelope).astype(np.float32)


def _synthesize(voice: str, text: str, path: Path) -> np.ndarray:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, capture_output=True)
    wav, rate = sf.read(path, dtype="float32")
    assert rate == SAMPLE_RATE, f"flite voice {voice} gave {rate} Hz"
    return wav


def make_speech(directory: Path) -> Dict[str, np.ndarray]:
    """Three clean 16 kHz utterances (about 2-3 s each), synthesized into ``directory``."""
    if shutil.which("flite"):
        return {key: _synthesize(voice, text, directory / f"{key}.wav") for key, (voice, text) in SENTENCES.items()}
    return {key: _numpy_speech(i) for i, key in enumerate(SENTENCES)}


def write_scp_dir(directory: Path, name: str, signals: Dict[str, np.ndarray]) -> Path:
    """Write ``directory/<name>/<key>.wav`` and ``directory/<name>.scp``; return the scp path."""
    (directory / name).mkdir(parents=True, exist_ok=True)
    lines = []
    for key in sorted(signals):
        path = directory / name / f"{key}.wav"
        sf.write(path, signals[key], SAMPLE_RATE, subtype="PCM_16")
        lines.append(f"{key} {path}\n")
    scp = directory / f"{name}.scp"
    scp.write_text("".join(lines))
    return scp


def build_experiment(root: Path, speech: Dict[str, np.ndarray], metrics: str = "pesq_wb,stoi,sisdr") -> Dict[str, Path]:
    """A small recipe tree scored with mal-score: data/test_a/{wav,spk1}.scp, exp/enhanced/test_a/
    {sys_b,sys_a}/wav.scp, exp/scores/test_a/{noisy,sys_a,sys_b}/ (sys_a has a silent output and an
    extra 'wer' file; sys_b has no sisdr file)."""
    from mal.bin.score import main as score

    data = root / "data" / "test_a"
    data.mkdir(parents=True)
    noisy = {k: add_noise(v, 0.0, seed=i) for i, (k, v) in enumerate(speech.items())}
    sys_b = {k: add_noise(v, 15.0, seed=10 + i) for i, (k, v) in enumerate(speech.items())}
    sys_a = {k: add_noise(v, 8.0, seed=20 + i) for i, (k, v) in enumerate(speech.items())}
    sys_a["utt2"] = np.zeros_like(speech["utt2"])
    (data / "wav.scp").write_text(write_scp_dir(root / "audio", "noisy", noisy).read_text())
    (data / "spk1.scp").write_text(write_scp_dir(root / "audio", "clean", speech).read_text())
    enhanced = root / "exp" / "enhanced" / "test_a"
    scores = root / "exp" / "scores" / "test_a"
    for name, signals in (("sys_b", sys_b), ("sys_a", sys_a)):
        (enhanced / name).mkdir(parents=True)
        (enhanced / name / "wav.scp").write_text(write_scp_dir(root / "audio", name, signals).read_text())
    for name, est in (("noisy", data / "wav.scp"), ("sys_a", enhanced / "sys_a" / "wav.scp"),
                      ("sys_b", enhanced / "sys_b" / "wav.scp")):
        chosen = metrics if name != "sys_b" else ",".join(m for m in metrics.split(",") if m != "sisdr")
        rc = score(["--ref-scp", str(data / "spk1.scp"), "--est-scp", str(est), "--out-dir", str(scores / name),
                    "--metrics", chosen])
        assert rc == 0, name
    (scores / "sys_a" / "wer").write_text("utt1 0.25\nutt2 1.0\nutt3 0.5\n")
    (scores / "sys_a" / "logdir").mkdir()  # job logs next to the scores are ignored
    (scores / "sys_a" / "logdir" / "score.1.log").write_text("log\n")
    return {"root": root, "data_root": root / "data", "enhanced_root": root / "exp" / "enhanced",
            "scores_root": root / "exp" / "scores"}
