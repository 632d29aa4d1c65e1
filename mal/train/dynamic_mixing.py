"""Dynamic mixing: a fresh noise, SNR, level and room for every training example.

The clean speech is the training data dir's ``spk1.scp``; the noise is drawn from a noise pool
(a ``wav.scp`` of noise recordings, with an optional ``utt2category`` beside it so every noise
kind is drawn equally often whatever its number of files); a share of the examples is
convolved with a room impulse response from an RIR pool (a ``wav.scp`` of RIRs). The target is
the (reverberant, when a room was drawn) clean speech: the model learns to remove noise, not
reverberation. Every draw depends only on ``(seed, epoch, index)``, so a run is reproducible
and a resumed run sees what an uninterrupted run sees, whatever the number of loader workers.

Optional augmentations (all off by default; each draws from its own generator, so switching one
on leaves every other draw of the example unchanged): random EQ of speech and of noise, band-
limiting of the speech (input and target alike), generated stationary noise as an extra kind, a
second noise of another kind, concatenation of short clips with others of their kind, and a
random gain of the whole example. Noise clips are decoded once and kept in memory (PCM-16 clips
as int16).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from mal.io import DataDir, DataDirError, read_audio, read_scp
from mal.train.augment import lowpass, random_eq, stationary_noise
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
    speech_eq_prob: float = 0.0  # share of examples whose speech gets a random biquad (input and target)
    noise_eq_prob: float = 0.0  # share of examples whose noise gets a random biquad
    bandlimit_prob: float = 0.0  # share of examples whose speech is low-passed (input and target)
    bandlimit_cutoffs: Tuple[float, ...] = (7000.0, 4000.0)  # Hz, one drawn per band-limited example
    generated_noise_prob: float = 0.0  # share of examples whose noise is generated (kind "generated")
    second_noise_prob: float = 0.0  # share of examples with a second noise of another kind
    second_noise_db_range: Tuple[float, float] = (-10.0, 0.0)  # its level relative to the first (dB)
    short_noise: str = "tile"  # a clip shorter than the segment: "tile" (loop it) | "concat" (with its kind's other clips)
    gain_db_range: Optional[Tuple[float, float]] = None  # a random gain of noisy and clean together (dB)
    noise_cache: bool = True  # decode every noise clip once and keep it in memory

    @classmethod
    def from_config(cls, section: Dict[str, object]) -> Optional["MixingOptions"]:
        """None when the section asks for no dynamic mixing (no ``noise_scp``); absent keys take the defaults."""
        if not section.get("noise_scp"):
            return None
        pair = lambda key: tuple(float(v) for v in section[key])  # type: ignore[attr-defined]  # noqa: E731
        values: Dict[str, object] = {"noise_scp": str(section["noise_scp"]),
                                     "rir_scp": str(section["rir_scp"]) if section.get("rir_scp") else None}
        for f in fields(cls):
            if f.name in values or section.get(f.name) is None:
                continue
            if f.name in ("noise_db_range", "speech_level_range", "second_noise_db_range", "gain_db_range",
                          "bandlimit_cutoffs"):
                values[f.name] = pair(f.name)
            elif f.name in ("short_noise",):
                values[f.name] = str(section[f.name])
            elif f.name == "noise_cache":
                values[f.name] = bool(section[f.name])
            else:
                values[f.name] = float(section[f.name])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


class NoisePool:
    """Noise recordings of a ``wav.scp``, grouped by ``utt2category`` when it lies beside it.

    With ``cache`` every recording is decoded once (PCM-16 files at the pool's rate kept as int16,
    others as float32, so a draw is the same as without the cache)."""

    def __init__(self, scp: PathLike, sample_rate: int, cache: bool = False):
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
        self.kind_of = {key: kind for kind, keys in groups.items() for key in keys}
        self.cache: Dict[str, np.ndarray] = {key: self._decode(key) for key in sorted(self.entries)} if cache else {}

    def _decode(self, key: str) -> np.ndarray:
        noise, _ = read_audio(self.entries[key], self.sample_rate, resample_to_rate=True, key=key)
        as_int = np.round(noise * 32768.0)
        if as_int.min() >= -32768 and as_int.max() <= 32767 and np.array_equal(as_int / np.float32(32768.0), noise):
            return as_int.astype(np.int16)  # exact: a PCM-16 recording
        return noise

    def _raw(self, key: str) -> np.ndarray:
        cached = self.cache.get(key)
        if cached is None:
            return read_audio(self.entries[key], self.sample_rate, resample_to_rate=True, key=key)[0]
        return cached

    @staticmethod
    def _float(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32) / np.float32(32768.0) if x.dtype == np.int16 else x

    def clip(self, key: str) -> np.ndarray:
        """The whole recording ``key`` as float32."""
        return self._float(self._raw(key))

    def draw(self, rng: np.random.Generator, num_samples: int, exclude_kind: Optional[str] = None,
             concat: bool = False) -> Tuple[str, np.ndarray]:
        """``(key, noise)``: a random kind (not ``exclude_kind``), a random recording of it, a random
        stretch of it. A shorter recording is tiled from a random point, or with ``concat`` followed
        by random recordings of its kind (joined with 5 ms cross-fades) until the segment is full."""
        kinds = [k for k in self.kinds if k != exclude_kind] if exclude_kind else self.kinds
        kind = kinds[int(rng.integers(len(kinds)))]
        files = self.groups[kind]
        key = files[int(rng.integers(len(files)))]
        raw = self._raw(key)
        if raw.shape[0] >= num_samples:
            start = int(rng.integers(0, raw.shape[0] - num_samples + 1))
            return key, self._float(raw[start : start + num_samples])
        start = int(rng.integers(0, raw.shape[0]))
        if not concat or len(files) == 1:
            return key, self._float(np.resize(np.roll(raw, -start), num_samples))
        noise = self._float(raw)
        out = noise[start:]
        fade = max(1, int(0.005 * self.sample_rate))
        while out.shape[0] < num_samples:
            piece = self.clip(files[int(rng.integers(len(files)))])
            n = min(fade, out.shape[0], piece.shape[0])
            ramp = np.linspace(0.0, 1.0, n + 2, dtype=np.float32)[1:-1]
            joint = out[-n:] * (1 - ramp) + piece[:n] * ramp
            out = np.concatenate([out[:-n], joint, piece[n:]])
        return key, out[:num_samples]


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
        self.noise = NoisePool(options.noise_scp, sample_rate, cache=options.noise_cache)
        self.rirs = load_rirs(options.rir_scp, sample_rate) if options.rir_scp and options.rir_apply_prob > 0 else []
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.keys)

    def rng(self, index: int, stream: int = 0) -> np.random.Generator:
        """The generator of ``index`` this epoch; ``stream`` > 0: an augmentation's own generator."""
        return np.random.default_rng([self.seed, self.epoch, index, 1] + ([stream] if stream else []))

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
        o = self.options
        key = self.keys[index]
        clean = self._speech_segment(rng, key)
        room = -1
        if self.rirs and rng.random() < o.rir_apply_prob:
            room = int(rng.integers(len(self.rirs)))
            clean = reverberate(clean, self.rirs[room])
        if o.speech_eq_prob > 0 and (eq := self.rng(index, 1)).random() < o.speech_eq_prob:
            clean = random_eq(clean, eq)
        cutoff = 0.0
        if o.bandlimit_prob > 0 and (band := self.rng(index, 2)).random() < o.bandlimit_prob:
            cutoff = float(o.bandlimit_cutoffs[int(band.integers(len(o.bandlimit_cutoffs)))])
            clean = lowpass(clean, cutoff, self.sample_rate)
        noise_key, noise = self.noise.draw(rng, self.segment, concat=o.short_noise == "concat")
        if o.generated_noise_prob > 0 and (gen := self.rng(index, 3)).random() < o.generated_noise_prob:
            noise_key, noise = "generated", stationary_noise(self.segment, gen, self.sample_rate)
        if o.noise_eq_prob > 0 and (eq := self.rng(index, 4)).random() < o.noise_eq_prob:
            noise = random_eq(noise, eq)
        second_key = ""
        if o.second_noise_prob > 0 and len(self.noise.kinds) > 1 and (two := self.rng(index, 5)).random() < o.second_noise_prob:
            first_kind = self.noise.kind_of.get(noise_key)
            second_key, second = self.noise.draw(two, self.segment, exclude_kind=first_kind, concat=o.short_noise == "concat")
            relative = float(two.uniform(*o.second_noise_db_range))
            noise = noise + second * np.sqrt(max(power(noise), SILENT_POWER) * 10 ** (relative / 10) / max(power(second), SILENT_POWER))
        snr = float(rng.uniform(*o.noise_db_range))
        level = float(rng.uniform(*o.speech_level_range))
        target_power = 10 ** (level / 10)
        clean_power = power(clean)
        if clean_power > SILENT_POWER:
            clean = clean * np.sqrt(target_power / clean_power)
        noise = noise * np.sqrt(target_power / (max(power(noise), SILENT_POWER) * 10 ** (snr / 10)))
        gain_db = float(self.rng(index, 6).uniform(*o.gain_db_range)) if o.gain_db_range else 0.0
        noisy = clean + noise
        peak = max(float(np.abs(noisy).max()), float(np.abs(clean).max()), 1e-12)
        gain = min(10 ** (gain_db / 20), MAX_PEAK / peak)
        f32 = lambda x: np.ascontiguousarray(x * gain, dtype=np.float32)  # noqa: E731
        return {"key": key, "noisy": f32(noisy), "clean": f32(clean), "noise": f32(noise),
                "noise_key": noise_key, "snr_db": snr, "room": room, "second_noise_key": second_key,
                "bandlimit_hz": cutoff, "gain_db": gain_db}

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        draw = self.mixture(index)
        return torch.from_numpy(draw["noisy"]), torch.from_numpy(draw["clean"])  # type: ignore[arg-type]


def describe(dataset: DynamicMixingDataset) -> str:
    """One log line: speech, noise kinds, rooms, augmentations."""
    o = dataset.options
    rooms = f"{len(dataset.rirs)} rooms on {o.rir_apply_prob:.0%} of the examples" if dataset.rirs else "no rooms"
    kinds = dataset.noise.kinds
    names = ", ".join(kinds[:12]) + (f", ... {len(kinds) - 12} more" if len(kinds) > 12 else "")
    extras = [f"{label} {p:.0%}" for label, p in (
        ("speech EQ", o.speech_eq_prob), ("noise EQ", o.noise_eq_prob), ("band-limited speech", o.bandlimit_prob),
        ("generated noise", o.generated_noise_prob), ("second noise", o.second_noise_prob)) if p > 0]
    extras += ["short clips concatenated"] if o.short_noise == "concat" else []
    extras += [f"gain {o.gain_db_range[0]:g}..{o.gain_db_range[1]:g} dB"] if o.gain_db_range else []
    return (f"dynamic mixing: {len(dataset)} clean utterances, {len(dataset.noise.entries)} noise recordings of "
            f"{len(kinds)} kinds ({names}), SNR {o.noise_db_range[0]:g}..{o.noise_db_range[1]:g} dB, "
            f"{rooms}" + (f"; {', '.join(extras)}" if extras else ""))


def make_train_dataset(data_dir: PathLike, sample_rate: int, segment_seconds: float, mixing: Dict[str, object],
                       seed: int) -> Union[SegmentDataset, DynamicMixingDataset]:
    """The training set of a config: pre-mixed segments, or dynamic mixing when ``mixing`` names a noise pool."""
    options = MixingOptions.from_config(mixing)
    if options is None:
        return SegmentDataset(data_dir, sample_rate, segment_seconds, seed=seed)
    dataset = DynamicMixingDataset(data_dir, sample_rate, segment_seconds, options, seed=seed)
    logger.info(describe(dataset))
    return dataset
