"""Miniature copies of real corpora, with the real folder and file naming, for recipe tests.

Audio is generated (speech-like harmonic tones with a syllable rhythm, coloured noise), a few
files of 1-2 s each, at the corpus' real sample rate. The generators return what they wrote so
tests can compare the recipe's output with the source.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import soundfile as sf

#: VoiceBank+DEMAND (Edinburgh DataShare 10283/2791): 48 kHz; train speakers incl. the usual
#: validation pair p226/p287; the test speakers are p232 and p257.
VB_RATE = 48000
VB_TRAIN_SPEAKERS = ("p226", "p230", "p231", "p287")
VB_TEST_SPEAKERS = ("p232", "p257")
VB_FOLDERS = ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "clean_testset_wav",
              "noisy_testset_wav", "trainset_28spk_txt", "testset_txt")
#: DNS Challenge (Interspeech 2020, microsoft/DNS-Challenge): 16 kHz.
DNS_RATE = 16000
DNS_READERS = ("06709", "11980", "01326", "07907", "04069", "04408")
WORDS = "the quick brown fox jumps over a lazy dog while seven bright stars shine above".split()


def speech_like(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal with short pauses (float32, peak ~0.5)."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, np.pi)), 0, None) ** 0.5
    wav = voiced * syllables
    return (0.5 * wav / np.abs(wav).max()).astype(np.float32)


def coloured_noise(rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
    """Noise with power ~ f**(-slope) (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    x = np.fft.irfft(spec / freqs ** (slope / 2), n)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    gain = np.sqrt(np.mean(clean**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return (clean + gain * noise).astype(np.float32)


def sentence(rng: np.random.Generator) -> str:
    words = rng.choice(WORDS, size=int(rng.integers(3, 7)))
    return " ".join(words).capitalize() + "."


@dataclass
class VoiceBankTree:
    root: Path
    train_utts: List[str] = field(default_factory=list)
    test_utts: List[str] = field(default_factory=list)
    transcripts: Dict[str, str] = field(default_factory=dict)


def write_voicebank_tree(root: Path, utts_per_speaker: int = 2, seconds: Tuple[float, float] = (1.0, 1.6),
                         train_speakers: Sequence[str] = VB_TRAIN_SPEAKERS, seed: int = 0) -> VoiceBankTree:
    """The six official folders under ``root`` with 48 kHz PCM-16 wavs and .txt transcripts."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for name in VB_FOLDERS:
        (root / name).mkdir(parents=True, exist_ok=True)
    tree = VoiceBankTree(root)
    for part, speakers, utts in (("trainset_28spk", train_speakers, tree.train_utts),
                                 ("testset", VB_TEST_SPEAKERS, tree.test_utts)):
        for spk in speakers:
            for i in range(1, utts_per_speaker + 1):
                utt = f"{spk}_{i:03d}"
                clean = speech_like(rng, rng.uniform(*seconds), VB_RATE)
                noisy = mix_at_snr(clean, coloured_noise(rng, clean.size, rng.uniform(0, 2)), rng.uniform(2.5, 17.5))
                folder = part if part == "testset" else "trainset_28spk"
                sf.write(root / f"clean_{folder}_wav" / f"{utt}.wav", clean, VB_RATE, subtype="PCM_16")
                sf.write(root / f"noisy_{folder}_wav" / f"{utt}.wav", np.clip(noisy, -1, 1), VB_RATE, subtype="PCM_16")
                tree.transcripts[utt] = sentence(rng)
                (root / f"{folder}_txt" / f"{utt}.txt").write_text(tree.transcripts[utt] + "\n")
                utts.append(utt)
    return tree


@dataclass
class DnsTree:
    root: Path
    clean_files: List[Path] = field(default_factory=list)
    noise_files: List[Path] = field(default_factory=list)
    test_fileids: List[int] = field(default_factory=list)
    rir_files: List[Path] = field(default_factory=list)


def exponential_rir(rng: np.random.Generator, rate: int, rt60: float) -> np.ndarray:
    """A synthetic room impulse response: direct path then exponentially decaying noise."""
    n = int(rate * rt60 * 1.2)
    t = np.arange(n) / rate
    h = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * 0.3
    h[: int(0.002 * rate)] = 0.0
    h[0] = 1.0
    return (h / np.abs(h).max()).astype(np.float32)


def write_dns_tree(root: Path, clips_per_reader: int = 2, num_noise: int = 4, num_test: int = 3,
                   seconds: Tuple[float, float] = (1.5, 2.0), with_rirs: bool = False, seed: int = 0) -> DnsTree:
    """``datasets/{clean,noise,test_set/synthetic/{no_reverb,with_reverb}/{clean,noisy}}`` at 16 kHz.

    Clean: ``book_<5>_chp_<4>_reader_<5>_<n>.wav``; noise: YouTube-id-like names; test sets:
    ``clean/clean_fileid_<i>.wav`` and ``noisy/clnsp<k>_<noise>_snr<s>_tl-<l>_fileid_<i>.wav``.
    ``with_rirs`` adds ``datasets/impulse_responses/SLR26/...`` (the later challenges' folder).
    """
    rng = np.random.default_rng(seed)
    data = Path(root) / "datasets"
    tree = DnsTree(Path(root))
    (data / "clean").mkdir(parents=True, exist_ok=True)
    for r, reader in enumerate(DNS_READERS):
        for n in range(clips_per_reader):
            path = data / "clean" / f"book_{r * 7:05d}_chp_{r + 3:04d}_reader_{reader}_{n}.wav"
            sf.write(path, speech_like(rng, rng.uniform(*seconds), DNS_RATE), DNS_RATE, subtype="PCM_16")
            tree.clean_files.append(path)
    (data / "noise").mkdir(parents=True, exist_ok=True)
    for i in range(num_noise):
        name = "".join(rng.choice(list("abcdefghijkLMNOPQ0123456789_-"), size=11))
        path = data / "noise" / f"{name}.wav"
        sf.write(path, 0.1 * coloured_noise(rng, int(rng.uniform(0.8, 1.2) * DNS_RATE), i % 3), DNS_RATE, subtype="PCM_16")
        tree.noise_files.append(path)
    for condition in ("no_reverb", "with_reverb"):
        base = data / "test_set" / "synthetic" / condition
        (base / "clean").mkdir(parents=True, exist_ok=True)
        (base / "noisy").mkdir(parents=True, exist_ok=True)
        for i in range(num_test):
            fileid = 10 * i + 3
            clean = speech_like(rng, rng.uniform(*seconds), DNS_RATE)
            snr = int(rng.integers(0, 20))
            noisy = mix_at_snr(clean, coloured_noise(rng, clean.size, 1.0), snr)
            sf.write(base / "clean" / f"clean_fileid_{fileid}.wav", clean, DNS_RATE, subtype="PCM_16")
            sf.write(base / "noisy" / f"clnsp{100 + i}_bus_{1000 + i}_{i}_snr{snr}_tl-25_fileid_{fileid}.wav",
                     np.clip(noisy, -1, 1), DNS_RATE, subtype="PCM_16")
            if condition == "no_reverb":
                tree.test_fileids.append(fileid)
    if with_rirs:
        rir_dir = data / "impulse_responses" / "SLR26" / "simulated_rirs_16k" / "smallroom" / "Room001"
        rir_dir.mkdir(parents=True, exist_ok=True)
        for i, rt60 in enumerate((0.3, 0.6)):
            path = rir_dir / f"Room001-0000{i + 1}.wav"
            sf.write(path, exponential_rir(rng, DNS_RATE, rt60), DNS_RATE, subtype="FLOAT")
            tree.rir_files.append(path)
    return tree


# --- recipe copies -------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]

#: A tiny warm-up config for recipe tests: ``./run.sh --train_config conf/test_tiny.yaml``.
TINY_CONFIG = """\
sample_rate: 16000
model: {name: tiny, conf: {channels: 4, depth: 2}}
criterions: [{name: l1, weight: 1.0}]
optim: {name: adam, lr: 1.0e-3}
batch: {batch_size: 2, segment_seconds: 0.5, num_workers: 0, valid_batch_size: 2}
train: {max_epochs: 1, max_steps: 3, amp: false, keep_nbest: 1, log_interval: 1}
"""


def recipe_copy(root: Path, *recipes: str) -> Path:
    """``root/egs/<recipe>`` copies (their relative links kept) beside links to the repository's
    ``egs/TEMPLATE``, ``utils`` and ``tools``, so each recipe runs as in the repository while
    everything it writes (data, dump, exp, RESULTS.md) stays under ``root``. Returns ``root/egs``."""
    egs = Path(root) / "egs"
    egs.mkdir(parents=True)
    for name in ("tools", "utils"):
        os.symlink(REPO / name, Path(root) / name)
    os.symlink(REPO / "egs" / "TEMPLATE", egs / "TEMPLATE")
    skip = shutil.ignore_patterns("data", "exp", "dump", "downloads", "RESULTS.md", "__pycache__")
    for recipe in recipes:
        shutil.copytree(REPO / "egs" / recipe, egs / recipe, symlinks=True, ignore=skip)
        (egs / recipe / "conf" / "test_tiny.yaml").write_text(TINY_CONFIG)
    return egs


def run(cmd: Sequence[str], cwd: Path, timeout: float = 240, path_first: Sequence[Path] = ()) -> subprocess.CompletedProcess:
    """Run a recipe command with ``path_first`` and mal's venv first on PATH (output merged into stdout)."""
    path = os.pathsep.join([str(p) for p in path_first] + [str(Path(sys.executable).parent), os.environ["PATH"]])
    env = dict(os.environ, PATH=path, LC_ALL="C")
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
