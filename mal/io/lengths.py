"""Utterance lengths in samples (``utt2num_samples``), from audio headers where possible."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional, Union

from mal.io.audio import AudioInfo, audio_info, resampled_length
from mal.io.datadir import DataDirError
from mal.io.scp import read_scp, write_scp
from mal.io.tables import Segment

PathLike = Union[str, os.PathLike]


def _length_at(info: AudioInfo, sample_rate: Optional[int]) -> int:
    if sample_rate is None or info.sample_rate == sample_rate:
        return info.num_samples
    return resampled_length(info.num_samples, info.sample_rate, sample_rate)


def compute_num_samples(path: PathLike, sample_rate: Optional[int] = None) -> Dict[str, int]:
    """Length of every utterance of a data dir (from wav.scp, cut by ``segments`` if present).

    Plain files are measured from their headers; pipes and ark entries are decoded. With
    ``sample_rate``, lengths are those after resampling to it (what
    ``read_audio(..., sample_rate, resample_to_rate=True)`` returns). Unreadable audio raises
    AudioError naming the key; a bad segments line raises DataDirError naming the utterance.
    """
    path = Path(path)
    wav_scp = read_scp(path / "wav.scp")
    if not (path / "segments").is_file():
        return {key: _length_at(audio_info(entry, key), sample_rate) for key, entry in wav_scp.items()}
    lengths: Dict[str, int] = {}
    infos: Dict[str, AudioInfo] = {}
    for utt, value in read_scp(path / "segments").items():
        try:
            segment = Segment.parse(value)
        except ValueError as e:
            raise DataDirError(f"{path}/segments: utterance '{utt}': {e}") from None
        if segment.recording not in wav_scp:
            raise DataDirError(f"{path}/segments: utterance '{utt}': recording '{segment.recording}' is not in wav.scp")
        if segment.recording not in infos:
            infos[segment.recording] = audio_info(wav_scp[segment.recording], segment.recording)
        info = infos[segment.recording]
        rate = sample_rate or info.sample_rate
        start, end = segment.bounds(rate)
        total = _length_at(info, sample_rate)
        if end > total:
            raise DataDirError(
                f"{path}/segments: utterance '{utt}': ends at {segment.end} s but recording "
                f"'{segment.recording}' is {total / rate:.3f} s long"
            )
        lengths[utt] = end - start
    return lengths


def write_utt2num_samples(path: PathLike, sample_rate: Optional[int] = None) -> Path:
    """Compute lengths (see :func:`compute_num_samples`) and write ``path/utt2num_samples`` atomically."""
    out = Path(path) / "utt2num_samples"
    write_scp(out, compute_num_samples(path, sample_rate))
    return out
