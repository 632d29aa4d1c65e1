"""Dynamic mixing: a fresh noise, SNR, level and room for every training example.

The clean speech is the training data dir's ``spk1.scp``; the noise is drawn from a noise pool
(a ``wav.scp`` of noise recordings, with an optional ``utt2category`` beside it so every noise
kind is drawn equally often whatever its number of files); a share of the examples is
convolved with a room impulse response from an RIR pool (a ``wav.scp`` of RIRs). The target is
the (reverberant, when a room was drawn) clean speech: the model learns to remove noise, not
reverberation. Every draw depends only on ``(seed, epoch, index)``, so a run is reproducible
and a resumed run sees what an uninterrupted run sees, whatever the number of loader workers.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from mal.io import DataDir, DataDirError, read_audio, read_scp
from mal.train.dataset import CLEAN_SCP, SegmentDataset, utterance_lengths
from mal.train.mixing import MAX_PEAK, SILENT_POWER, align_rir, power, reverberate

PathLike = Union[str, os.PathLike]
logger = logging.getLogger("mal.train")


@dataclass(frozen=True)
class MixingOptions:
    """The ``dynamic_mixing`` section of a training config (names follow ESPnet's preprocessor)."""

    noise_scp: str
    noise_db_range: Tuple[float, float] = (-5.0, 20.0)
    rir_scp: Optional[str] = None
    rir_apply_prob: float = 0.0
    speech_level_range: Tuple[float, float] = (-35.0, -15.0)

    @classmethod
    def from_config(cls, section: Dict[str, object]) -> Optional["MixingOptions"]:
        """None when the section asks for no dynamic mixing (no ``noise_scp``)."""
        if not section.get("noise_scp"):
            return None
        return cls(
            noise_scp=str(section["noise_scp"]),
            noise_db_range=tuple(float(v) for v in section["noise_db_range"]),  # type: ignore[arg-type]
            rir_scp=str(section["rir_scp"]) if section.get("rir_scp") else None,
            rir_apply_prob=float(section["rir_apply_prob"]),  # type: ignore[arg-type]
            speech_level_range=tuple(float(v) for v in section["speech_level_range"]),  # type: ignore[arg-type]
        )


class NoisePool:
    """Noise recordings of a ``wav.scp``, grouped by ``utt2category`` when it lies beside it."""

    def __init__(self, scp: PathLike, sample_rate: int):
        self.scp = Path(scp)
        self.sample_rate = sample_rate
        self.entries = read_scp(self.scp)
        if not self.entries:
            raise DataDirError(f"{self.scp}: no noise recordings")
        categories_file = self.scp.parent / "utt2category"
        categories = read_scp(categories_file) if categories_file.exists() else {}
        missing = [k for k in self.entries if categories and k not in categories]
        if missing:
            raise DataDirError(f"{categories_file}: noise '{missing[0]}' of {self.scp} has no category")
        groups: Dict[str, List[str]] = {}
        for key in sorted(self.entries):
            groups.setdefault(categories.get(key, "noise"), []).append(key)
        self.groups = groups
        self.kinds = sorted(groups)

    def draw(self, rng: np.random.Generator, num_samples: int) -> Tuple[str, np.ndarray]:
        """``(key, noise)``: a random kind, a random recording of it, a random stretch of it
        (tiled from a random point when the recording is shorter)."""
        files = self.groups[self.kinds[int(rng.integers(len(self.kinds)))]]
        key = files[int(rng.integers(len(files)))]
        noise, _ = read_audio(self.entries[key], self.sample_rate, resample_to_rate=True, key=key)
        if noise.shape[0] >= num_samples:
            start = int(rng.integers(0, noise.shape[0] - num_samples + 1))
            return key, noise[start : start + num_samples]
        start = int(rng.integers(0, noise.shape[0]))
        return key, np.resize(np.roll(noise, -start), num_samples)


def load_rirs(scp: PathLike, sample_rate: int) -> List[np.ndarray]:
    """Every RIR of a ``wav.scp``, aligned to its direct path."""
    entries = read_scp(scp)
    if not entries:
        raise DataDirError(f"{scp}: no room impulse responses")
    return [align_rir(read_audio(entry, sample_rate, resample_to_rate=True, key=key)[0]) for key, entry in sorted(entries.items())]


class DynamicMixingDataset(Dataset):
    """Fixed-length (noisy, clean) segments mixed on the fly; call ``set_epoch`` before each epoch."""

    def __init__(self, data_dir: PathLike, sample_rate: int, segment_seconds: float, options: MixingOptions, seed: int = 0):
        self.data = DataDir(data_dir, sample_rate=sample_rate)
        if not self.data.has(CLEAN_SCP):
            raise DataDirError(f"{self.data.path}/{CLEAN_SCP}: file not found (dynamic mixing draws the clean speech from it)")
        self.clean = self.data.table(CLEAN_SCP)
        self.keys = sorted(self.clean)
        if not self.keys:
            raise DataDirError(f"{self.data.path}/{CLEAN_SCP}: no utterances")
        self.lengths = utterance_lengths(self.data, self.keys)
        self.sample_rate = sample_rate
        self.segment = max(1, int(round(segment_seconds * sample_rate)))
        self.options = options
        self.noise = NoisePool(options.noise_scp, sample_rate)
        self.rirs = load_rirs(options.rir_scp, sample_rate) if options.rir_scp and options.rir_apply_prob > 0 else []
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.keys)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index, 1])

    def _speech_segment(self, rng: np.random.Generator, key: str) -> np.ndarray:
        speech, _ = read_audio(self.clean[key], self.sample_rate, key=key)
        if speech.shape[0] >= self.segment:
            start = int(rng.integers(0, speech.shape[0] - self.segment + 1))
            return speech[start : start + self.segment]
        out = np.zeros(self.segment, np.float32)
        start = int(rng.integers(0, self.segment - speech.shape[0] + 1))
        out[start : start + speech.shape[0]] = speech
        return out

    def mixture(self, index: int) -> Dict[str, object]:
        """The draw for ``index`` this epoch: noisy, clean, noise, and what was drawn."""
        rng = self.rng(index)
        key = self.keys[index]
        clean = self._speech_segment(rng, key)
        room = -1
        if self.rirs and rng.random() < self.options.rir_apply_prob:
            room = int(rng.integers(len(self.rirs)))
            clean = reverberate(clean, self.rirs[room])
        noise_key, noise = self.noise.draw(rng, self.segment)
        snr = float(rng.uniform(*self.options.noise_db_range))
        level = float(rng.uniform(*self.options.speech_level_range))
        target_power = 10 ** (level / 10)
        clean_power = power(clean)
        if clean_power > SILENT_POWER:
            clean = clean * np.sqrt(target_power / clean_power)
        noise = noise * np.sqrt(target_power / (max(power(noise), SILENT_POWER) * 10 ** (snr / 10)))
        noisy = clean + noise
        peak = max(float(np.abs(noisy).max()), float(np.abs(clean).max()), 1e-12)
        gain = min(1.0, MAX_PEAK / peak)
        f32 = lambda x: np.ascontiguousarray(x * gain, dtype=np.float32)  # noqa: E731
        return {"key": key, "noisy": f32(noisy), "clean": f32(clean), "noise": f32(noise),
                "noise_key": noise_key, "snr_db": snr, "room": room}

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        draw = self.mixture(index)
        return torch.from_numpy(draw["noisy"]), torch.from_numpy(draw["clean"])  # type: ignore[arg-type]


def describe(dataset: DynamicMixingDataset) -> str:
    """One log line: speech, noise kinds, rooms."""
    o = dataset.options
    rooms = f"{len(dataset.rirs)} rooms on {o.rir_apply_prob:.0%} of the examples" if dataset.rirs else "no rooms"
    return (f"dynamic mixing: {len(dataset)} clean utterances, {len(dataset.noise.entries)} noise recordings of "
            f"{len(dataset.noise.kinds)} kinds ({', '.join(dataset.noise.kinds)}), SNR {o.noise_db_range[0]:g}..{o.noise_db_range[1]:g} dB, "
            f"{rooms}")


def make_train_dataset(data_dir: PathLike, sample_rate: int, segment_seconds: float, mixing: Dict[str, object],
                       seed: int) -> Union[SegmentDataset, DynamicMixingDataset]:
    """The training set of a config: pre-mixed segments, or dynamic mixing when ``mixing`` names a noise pool."""
    options = MixingOptions.from_config(mixing)
    if options is None:
        return SegmentDataset(data_dir, sample_rate, segment_seconds, seed=seed)
    dataset = DynamicMixingDataset(data_dir, sample_rate, segment_seconds, options, seed=seed)
    logger.info(describe(dataset))
    return dataset
