"""Check a Kaldi data dir before a stage uses it: one line per problem, naming file, line and key."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

from mal.io.audio import AudioError, AudioInfo, audio_info, check_info, check_samples, entry_kind, load_raw
from mal.io.scp import ScpScan
from mal.io.tables import Segment, audio_scp_names, scan_tables, table_problems

PathLike = Union[str, os.PathLike]


def _probe(entry: str, key: str, sample_rate: Optional[int], decode: bool) -> Optional[AudioInfo]:
    """Info of one entry after all checks (AudioError otherwise); None for a pipe left unrun."""
    if decode:
        data, rate = load_raw(entry, key)
        check_samples(data, rate, f"utterance '{key}' ({entry})", sample_rate)
        return AudioInfo(rate, data.shape[0], data.shape[1])
    if entry_kind(entry) == "pipe":
        return None
    info = audio_info(entry, key)
    check_info(info, f"utterance '{key}' ({entry})", sample_rate)
    return info


def _audio_problems(
    scan: ScpScan, sample_rate: Optional[int], decode: bool, infos: Dict[str, AudioInfo]
) -> List[str]:
    """Check every entry of one audio table; fill ``infos`` with the entries that passed."""
    problems = []
    for key, entry in scan.table.items():
        try:
            info = _probe(entry, key, sample_rate, decode)
        except AudioError as e:
            problems.append(f"{scan.where(key)}: {e}")
            continue
        if info is not None:
            infos[key] = info
    return problems


def _alignment_problems(scan: ScpScan, infos: Mapping[str, AudioInfo], mixture: Mapping[str, AudioInfo]) -> List[str]:
    """Entries of a reference/noise table whose rate or length differs from wav.scp's."""
    problems = []
    for key, info in infos.items():
        ref = mixture.get(key)
        if ref is None:
            continue
        if info.sample_rate != ref.sample_rate:
            problems.append(
                f"{scan.where(key)}: key '{key}': sample rate {info.sample_rate} Hz differs from wav.scp ({ref.sample_rate} Hz)"
            )
        elif info.num_samples != ref.num_samples:
            problems.append(
                f"{scan.where(key)}: key '{key}': {info.num_samples} samples but wav.scp has {ref.num_samples}"
                " (mixture and reference must be aligned)"
            )
    return problems


def _utterance_lengths(scans: Mapping[str, ScpScan], mixture: Mapping[str, AudioInfo], problems: List[str]) -> Dict[str, int]:
    """Length of each utterance whose audio was measured; segments past the end are problems."""
    if "segments" not in scans:
        return {key: info.num_samples for key, info in mixture.items()}
    segments = scans["segments"]
    lengths = {}
    for utt, value in segments.table.items():
        try:
            segment = Segment.parse(value)
        except ValueError:
            continue  # already reported by table_problems
        info = mixture.get(segment.recording)
        if info is None:
            continue
        start, end = segment.bounds(info.sample_rate)
        if end > info.num_samples:
            problems.append(
                f"{segments.where(utt)}: utterance '{utt}': ends at {segment.end} s but recording "
                f"'{segment.recording}' is {info.num_samples / info.sample_rate:.3f} s long"
            )
            continue
        lengths[utt] = end - start
    return lengths


def _num_samples_problems(scan: ScpScan, lengths: Mapping[str, int]) -> List[str]:
    problems = []
    for key, value in scan.table.items():
        if key in lengths and value.isdigit() and int(value) != lengths[key]:
            problems.append(
                f"{scan.where(key)}: key '{key}': utt2num_samples says {value} but the audio has "
                f"{lengths[key]} samples; rerun mal-compute-lengths"
            )
    return problems


def validate_data_dir(
    path: PathLike, sample_rate: Optional[int] = None, check_audio: bool = True, open_audio: bool = True
) -> List[str]:
    """Every problem found in a data dir, one line each (``file:line: key '...': what``).

    Tables: UTF-8, ``key value`` format, unique and sorted keys, keys agreeing across wav.scp,
    spkN/noiseN/dereverbN.scp, utt2spk, text, utt2num_samples (and segments), spk2utt matching
    utt2spk. Audio: exists, decodes (header not corrupt, not truncated), not empty, mono, at
    ``sample_rate`` when given, and aligned with wav.scp (same rate and length); utt2num_samples
    matches the audio. With ``check_audio`` every entry is decoded (pipes run) and checked for
    NaN/inf; without, plain files are checked from their headers and pipes are not run. Without
    ``open_audio`` no audio is looked at (tables only, as Kaldi's validate_data_dir.sh).
    """
    path = Path(path)
    if not path.is_dir():
        return [f"{path}: data directory not found"]
    if not (path / "wav.scp").is_file():
        return [f"{path}/wav.scp: file not found (every data dir needs one)"]
    scans = scan_tables(path)
    problems = [p for scan in scans.values() for p in scan.problems]
    problems += table_problems(scans, path)
    infos: Dict[str, Dict[str, AudioInfo]] = {}
    for name in audio_scp_names(list(scans)) if open_audio else []:
        infos[name] = {}
        problems += _audio_problems(scans[name], sample_rate, check_audio, infos[name])
    for name in infos:
        if name != "wav.scp":
            problems += _alignment_problems(scans[name], infos[name], infos["wav.scp"])
    if not open_audio:
        return problems
    lengths = _utterance_lengths(scans, infos["wav.scp"], problems)
    if "utt2num_samples" in scans:
        problems += _num_samples_problems(scans["utt2num_samples"], lengths)
    return problems


__all__ = ["validate_data_dir"]
