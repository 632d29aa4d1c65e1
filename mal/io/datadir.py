"""A Kaldi-style data directory: wav.scp, spk1.scp, noise1.scp, utt2spk, segments, ..."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from mal.io.audio import AudioError, read_audio
from mal.io.scp import ScpError, read_scp

PathLike = Union[str, os.PathLike]

#: Files that hold one audio entry per key (the mixture first).
AUDIO_SCPS = ("wav.scp", "spk1.scp", "noise1.scp")


class DataDirError(ValueError):
    """An unusable data directory; the message names the file and key."""


class DataDir:
    """Read access to a Kaldi data dir; utterance keys come from wav.scp (or segments)."""

    def __init__(self, path: PathLike, sample_rate: Optional[int] = None, resample: bool = False):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataDirError(f"{self.path}: data directory not found")
        if not (self.path / "wav.scp").is_file():
            raise DataDirError(f"{self.path}/wav.scp: file not found (every data dir needs one)")
        self.sample_rate = sample_rate
        self.resample = resample
        self.tables: Dict[str, Dict[str, str]] = {}
        for name in os.listdir(self.path):
            if name.endswith(".scp") or name in ("utt2spk", "spk2utt", "utt2num_samples", "segments", "text"):
                self.tables[name] = read_scp(self.path / name)
        self.segments: Optional[Dict[str, Tuple[str, float, float]]] = None
        if "segments" in self.tables:
            self.segments = {}
            for utt, value in self.tables["segments"].items():
                parts = value.split()
                try:
                    rec, start, end = parts[0], float(parts[1]), float(parts[2])
                except (IndexError, ValueError):
                    raise DataDirError(f"{self.path}/segments: utterance '{utt}': expected '<utt> <rec> <start> <end>'") from None
                self.segments[utt] = (rec, start, end)

    @property
    def keys(self) -> List[str]:
        """Utterance keys in file order."""
        if self.segments is not None:
            return list(self.segments)
        return list(self.tables["wav.scp"])

    def has(self, scp: str) -> bool:
        return scp in self.tables

    def table(self, name: str) -> Dict[str, str]:
        if name not in self.tables:
            raise DataDirError(f"{self.path}/{name}: file not found")
        return self.tables[name]

    def num_samples(self) -> Optional[Dict[str, int]]:
        """utt2num_samples as ints, or None when the file is absent."""
        table = self.tables.get("utt2num_samples")
        if table is None:
            return None
        try:
            return {k: int(v) for k, v in table.items()}
        except ValueError as e:
            raise DataDirError(f"{self.path}/utt2num_samples: {e}") from None

    def audio(self, key: str, scp: str = "wav.scp") -> np.ndarray:
        """Samples of utterance ``key`` from ``scp`` (float32, mono)."""
        table = self.table(scp)
        if self.segments is not None and scp == "wav.scp":
            rec, start, end = self.segments[key]
            if rec not in table:
                raise DataDirError(f"{self.path}/segments: utterance '{key}' names recording '{rec}' missing from {scp}")
            wav, rate = read_audio(table[rec], self.sample_rate, self.resample, key=rec)
            return wav[int(round(start * rate)) : int(round(end * rate))]
        if key not in table:
            raise DataDirError(f"{self.path}/{scp}: key '{key}' missing")
        wav, _ = read_audio(table[key], self.sample_rate, self.resample, key=key)
        return wav

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"DataDir({str(self.path)!r}, {len(self)} utterances)"


__all__ = ["AUDIO_SCPS", "AudioError", "DataDir", "DataDirError", "ScpError"]
