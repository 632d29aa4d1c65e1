"""A Kaldi-style data directory: wav.scp, spk1.scp, noise1.scp, utt2spk, segments, ..."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from mal.io.audio import AudioError, read_audio
from mal.io.scp import ScpError, read_scp, write_scp
from mal.io.tables import Segment, is_audio_scp, scan_tables, spk2utt_from_utt2spk, table_problems

PathLike = Union[str, os.PathLike]

#: Files that hold one audio entry per key (the mixture first); spkN/noiseN/dereverbN also count.
AUDIO_SCPS = ("wav.scp", "spk1.scp", "noise1.scp")


class DataDirError(ValueError):
    """An unusable data directory; the message names the file and key."""


def _summary(problems: List[str], path: Path) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{problems[0]} (and {len(problems) - 1} more problems; list them with: mal-validate-data-dir {path} --no-audio)"


class DataDir:
    """Read access to a Kaldi data dir; utterance keys come from wav.scp (or segments).

    With ``check_tables`` (the default) construction fails fast, naming file, line and key,
    when a table is malformed or unsorted (ScpError) or when tables disagree (DataDirError):
    keys of wav.scp vs spkN/noiseN.scp, utterance tables vs wav.scp/segments, spk2utt vs utt2spk.
    Audio itself is checked when read (AudioError). With ``segments``, audio tables are keyed by
    recording and :meth:`audio` cuts the utterance out of its recording.
    """

    def __init__(
        self,
        path: PathLike,
        sample_rate: Optional[int] = None,
        resample: bool = False,
        check_tables: bool = True,
    ):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataDirError(f"{self.path}: data directory not found")
        if not (self.path / "wav.scp").is_file():
            raise DataDirError(f"{self.path}/wav.scp: file not found (every data dir needs one)")
        self.sample_rate = sample_rate
        self.resample = resample
        scans = scan_tables(self.path, require_sorted=check_tables)
        line_problems = [p for scan in scans.values() for p in scan.problems]
        if line_problems:
            raise ScpError(_summary(line_problems, self.path))
        if check_tables:
            problems = table_problems(scans, self.path)
            if problems:
                raise DataDirError(_summary(problems, self.path))
        self.tables: Dict[str, Dict[str, str]] = {name: scan.table for name, scan in scans.items()}
        self.segments: Optional[Dict[str, Segment]] = None
        if "segments" in self.tables:
            self.segments = {}
            for utt, value in self.tables["segments"].items():
                try:
                    self.segments[utt] = Segment.parse(value)
                except ValueError as e:
                    raise DataDirError(f"{scans['segments'].where(utt)}: utterance '{utt}': {e}") from None

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
        lengths = {}
        for key, value in table.items():
            try:
                lengths[key] = int(value)
            except ValueError:
                raise DataDirError(f"{self.path}/utt2num_samples: key '{key}': '{value}' is not an integer") from None
        return lengths

    def read(self, key: str, scp: str = "wav.scp") -> Tuple[np.ndarray, int]:
        """``(samples, rate)`` of utterance ``key`` from ``scp`` (float32, mono).

        Audio tables are checked against utt2num_samples when it lists ``key``.
        """
        table = self.table(scp)
        if self.segments is not None and is_audio_scp(scp):
            wav, rate = self._read_segment(key, scp, table)
        elif key not in table:
            raise DataDirError(f"{self.path}/{scp}: key '{key}' missing")
        else:
            wav, rate = read_audio(table[key], self.sample_rate, self.resample, key=key)
        expected = self.tables.get("utt2num_samples", {}).get(key, "")
        if is_audio_scp(scp) and expected.isdigit() and int(expected) != len(wav):
            raise DataDirError(
                f"{self.path}/{scp}: key '{key}': {len(wav)} samples but utt2num_samples says {expected}"
                " (rerun mal-compute-lengths)"
            )
        return wav, rate

    def _read_segment(self, key: str, scp: str, table: Dict[str, str]) -> Tuple[np.ndarray, int]:
        assert self.segments is not None
        if key not in self.segments:
            raise DataDirError(f"{self.path}/segments: utterance '{key}' missing")
        segment = self.segments[key]
        if segment.recording not in table:
            raise DataDirError(
                f"{self.path}/segments: utterance '{key}' names recording '{segment.recording}' missing from {scp}"
            )
        wav, rate = read_audio(table[segment.recording], self.sample_rate, self.resample, key=key)
        start, end = segment.bounds(rate)
        if end > len(wav):
            raise DataDirError(
                f"{self.path}/segments: utterance '{key}': ends at {segment.end} s but recording "
                f"'{segment.recording}' in {scp} is {len(wav) / rate:.3f} s long"
            )
        return wav[start:end], rate

    def audio(self, key: str, scp: str = "wav.scp") -> np.ndarray:
        """Samples of utterance ``key`` from ``scp`` (float32, mono)."""
        return self.read(key, scp)[0]

    def read_aligned(self, key: str, scps: Sequence[str] = ("wav.scp", "spk1.scp")) -> List[np.ndarray]:
        """Samples of ``key`` from each of ``scps``; DataDirError unless rates and lengths agree."""
        signals = [self.read(key, scp) for scp in scps]
        wav0, rate0 = signals[0]
        for scp, (wav, rate) in zip(scps[1:], signals[1:]):
            if rate != rate0 or len(wav) != len(wav0):
                raise DataDirError(
                    f"{self.path}/{scp}: key '{key}': {len(wav)} samples at {rate} Hz but {scps[0]} has "
                    f"{len(wav0)} samples at {rate0} Hz (mixture and reference must be aligned)"
                )
        return [wav for wav, _ in signals]

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"DataDir({str(self.path)!r}, {len(self)} utterances)"


def write_data_dir(path: PathLike, tables: Mapping[str, Mapping[str, object]]) -> Path:
    """Write each table (file name -> {key: value}) sorted and atomically into ``path``.

    Values may be strings, numbers or sequences (joined with spaces). When ``utt2spk`` is given,
    ``spk2utt`` is regenerated from it (any ``spk2utt`` passed in is replaced).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tables = dict(tables)
    for name in tables:
        if not name or os.sep in name or name in (".", ".."):
            raise DataDirError(f"{path}: invalid table name {name!r}")
    if "utt2spk" in tables:
        utt2spk = {utt: str(spk) for utt, spk in tables["utt2spk"].items()}
        tables["spk2utt"] = spk2utt_from_utt2spk(utt2spk)
    for name, table in tables.items():
        write_scp(path / name, table)
    return path


def subset_data_dir(src: PathLike, dst: PathLike, keys: Sequence[str]) -> Path:
    """A copy of data dir ``src`` holding only ``keys``: every per-utterance table filtered,
    spk2utt rebuilt; ``dst`` appears at once (written next to it, then renamed)."""
    src, dst = Path(src), Path(dst)
    wanted = set(keys)
    tables = {}
    for table in sorted(src.iterdir()):
        if table.is_file() and table.name != "spk2utt" and not table.name.startswith("."):
            tables[table.name] = {k: v for k, v in read_scp(table).items() if k in wanted}
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_data_dir(tmp, tables)
    tmp.replace(dst)
    return dst


__all__ = ["AUDIO_SCPS", "AudioError", "DataDir", "DataDirError", "ScpError", "subset_data_dir", "write_data_dir"]
