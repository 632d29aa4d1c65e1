"""Which tables a Kaldi data dir holds and how their keys must agree (no audio is read here)."""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from mal.io.scp import ScpScan, scan_scp

PathLike = Union[str, os.PathLike]

#: Audio tables keyed like wav.scp whose signals must be sample-aligned with the mixture.
AUDIO_SCP_PATTERN = re.compile(r"^(wav|spk\d+|noise\d+|dereverb\d+)\.scp$")
#: Tables keyed by utterance (by segment when ``segments`` exists).
UTTERANCE_TABLES = ("utt2spk", "text", "utt2num_samples", "utt2dur")
#: Tables without the ``.scp`` suffix that a data dir may hold.
PLAIN_TABLES = UTTERANCE_TABLES + ("spk2utt", "segments")
#: At most this many missing keys are listed per pair of files; the rest are counted.
MAX_LISTED = 10


def is_audio_scp(name: str) -> bool:
    return bool(AUDIO_SCP_PATTERN.match(name))


def table_names(path: PathLike) -> List[str]:
    """Table files present in a data dir: wav.scp first, then the others sorted."""
    names = [n for n in os.listdir(path) if (n.endswith(".scp") or n in PLAIN_TABLES) and os.path.isfile(os.path.join(path, n))]
    return sorted(names, key=lambda n: (n != "wav.scp", n))


def audio_scp_names(names: List[str]) -> List[str]:
    """The audio tables among ``names``, wav.scp first."""
    return [n for n in names if is_audio_scp(n)]


def scan_tables(path: PathLike, require_sorted: bool = True) -> Dict[str, ScpScan]:
    """Scan every table of a data dir (all lines, every problem kept)."""
    return {name: scan_scp(Path(path) / name, require_sorted) for name in table_names(path)}


def spk2utt_from_utt2spk(utt2spk: Mapping[str, str]) -> Dict[str, List[str]]:
    """Speaker -> its utterances (sorted), as ``utils/utt2spk_to_spk2utt.pl`` on sorted input."""
    spk2utt: Dict[str, List[str]] = {}
    for utt in sorted(utt2spk):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return spk2utt


class Segment(NamedTuple):
    """One ``segments`` row: ``<utt> <recording> <start-seconds> <end-seconds>``."""

    recording: str
    start: float
    end: float

    @classmethod
    def parse(cls, value: str) -> "Segment":
        """Parse the value part of a segments line; ValueError says what is wrong."""
        parts = value.split()
        if len(parts) != 3:
            raise ValueError(f"expected '<recording> <start> <end>', got {value!r}")
        try:
            start, end = float(parts[1]), float(parts[2])
        except ValueError:
            raise ValueError(f"start/end must be numbers (seconds), got {value!r}") from None
        if not (0.0 <= start < end) or end == float("inf"):
            raise ValueError(f"need 0 <= start < end, got start={parts[1]} end={parts[2]}")
        return cls(parts[0], start, end)

    def bounds(self, sample_rate: int) -> Tuple[int, int]:
        """First and one-past-last sample at ``sample_rate``."""
        return int(round(self.start * sample_rate)), int(round(self.end * sample_rate))


def utterance_scan(scans: Mapping[str, ScpScan]) -> ScpScan:
    """The table that defines utterance keys: segments when present, else wav.scp."""
    return scans["segments"] if "segments" in scans else scans["wav.scp"]


def _missing_keys(a: ScpScan, b: ScpScan) -> List[str]:
    """Keys of ``a`` not in ``b``, one line each (file:line of ``a``), at most MAX_LISTED."""
    missing = [k for k in a.table if k not in b.table]
    lines = [f"{a.where(k)}: key '{k}' is missing from {b.path}" for k in missing[:MAX_LISTED]]
    if len(missing) > MAX_LISTED:
        lines.append(f"{a.path}: ... and {len(missing) - MAX_LISTED} more keys missing from {b.path}")
    return lines


def _same_keys(a: ScpScan, b: ScpScan) -> List[str]:
    return _missing_keys(a, b) + _missing_keys(b, a)


def _segment_problems(segments: ScpScan, wav: ScpScan) -> List[str]:
    problems = []
    for utt, value in segments.table.items():
        try:
            segment = Segment.parse(value)
        except ValueError as e:
            problems.append(f"{segments.where(utt)}: utterance '{utt}': {e}")
            continue
        if segment.recording not in wav.table:
            problems.append(f"{segments.where(utt)}: utterance '{utt}': recording '{segment.recording}' is not in {wav.path}")
    return problems


def _speaker_problems(utt2spk: ScpScan, spk2utt: ScpScan) -> List[str]:
    problems = []
    expected = spk2utt_from_utt2spk(utt2spk.table)
    for spk, value in spk2utt.table.items():
        listed = value.split()
        for utt in sorted(u for u, n in Counter(listed).items() if n > 1):
            problems.append(f"{spk2utt.where(spk)}: speaker '{spk}': utterance '{utt}' is listed more than once")
        for utt in listed:
            if utt2spk.table.get(utt) == spk:
                continue
            if utt in utt2spk.table:
                actual = f"utt2spk gives speaker '{utt2spk.table[utt]}' ({utt2spk.where(utt)})"
            else:
                actual = f"it is not in {utt2spk.path}"
            problems.append(f"{spk2utt.where(spk)}: speaker '{spk}': lists utterance '{utt}' but {actual}")
    for spk, utts in expected.items():
        listed = set(spk2utt.table.get(spk, "").split())
        for utt in utts:
            if utt not in listed:
                problems.append(
                    f"{utt2spk.where(utt)}: key '{utt}': speaker '{spk}' but {spk2utt.path} does not list it"
                    " (regenerate with utils/utt2spk_to_spk2utt.pl)"
                )
    return problems


def _integer_problems(scan: ScpScan) -> List[str]:
    problems = []
    for key, value in scan.table.items():
        if not value.isdigit() or int(value) <= 0:
            problems.append(f"{scan.where(key)}: key '{key}': value '{value}' is not a positive integer")
    return problems


def table_problems(scans: Mapping[str, ScpScan], dirpath: Optional[PathLike] = None) -> List[str]:
    """Problems between tables: keys that do not agree, bad segments/speaker maps, bad lengths.

    Line-level problems (bytes, format, duplicates, order) are already in each scan's ``problems``.
    """
    if "wav.scp" not in scans:
        where = f"{dirpath}/wav.scp" if dirpath is not None else "wav.scp"
        return [f"{where}: file not found (every data dir needs one)"]
    wav = scans["wav.scp"]
    problems: List[str] = []
    for name in audio_scp_names(list(scans)):
        if name != "wav.scp":
            problems += _same_keys(wav, scans[name])
    utts = utterance_scan(scans)
    if "segments" in scans:
        problems += _segment_problems(scans["segments"], wav)
    for name in UTTERANCE_TABLES:
        if name in scans:
            problems += _same_keys(utts, scans[name])
    if "utt2num_samples" in scans:
        problems += _integer_problems(scans["utt2num_samples"])
    if "utt2spk" in scans and "spk2utt" in scans:
        problems += _speaker_problems(scans["utt2spk"], scans["spk2utt"])
    elif "utt2spk" in scans:
        u2s = scans["utt2spk"].path
        problems.append(f"{u2s}: spk2utt is missing; make it with utils/utt2spk_to_spk2utt.pl {u2s} > {Path(u2s).parent}/spk2utt")
    elif "spk2utt" in scans:
        problems.append(f"{scans['spk2utt'].path}: utt2spk is missing; make it with utils/spk2utt_to_utt2spk.pl")
    return problems
