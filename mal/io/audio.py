"""Read audio from Kaldi wav.scp entries (paths, ``cmd |`` pipes, ``ark:offset``) and write wavs."""
from __future__ import annotations

import io
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import soundfile as sf

from mal.io.atomic import atomic_path

PathLike = Union[str, os.PathLike]

#: libsndfile's log line for a WAV whose data chunk is longer than the bytes in the file.
_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
#: Data sizes that streaming writers put in headers when the length is unknown.
_STREAMED_SIZE = 0x7FFFF000


class AudioError(ValueError):
    """Audio that cannot be used; the message names the utterance and the file."""


@dataclass(frozen=True)
class AudioInfo:
    """What a header says about an entry: rate, length in samples and channel count."""

    sample_rate: int
    num_samples: int
    channels: int


def _where(entry: str, key: Optional[str]) -> str:
    return f"utterance '{key}' ({entry})" if key else f"{entry}"


def entry_kind(entry: str) -> str:
    """``"pipe"`` for ``cmd |``, ``"ark"`` for ``foo.ark:123``, else ``"file"``."""
    entry = entry.strip()
    if entry.endswith("|"):
        return "pipe"
    if ".ark:" in entry:
        return "ark"
    return "file"


def _check_not_truncated(sound: sf.SoundFile, where: str) -> None:
    """Raise when a WAV header promises more data than the file holds (a cut-off copy)."""
    match = _SHORT_DATA.search(sound.extra_info or "")
    if match:
        declared, present = int(match.group(1)), int(match.group(2))
        if 0 < declared < _STREAMED_SIZE and present < declared:
            raise AudioError(f"{where}: truncated file: header declares {declared} data bytes, only {present} present")


def _decode(source, where: str) -> Tuple[np.ndarray, int]:
    with sf.SoundFile(source) as sound:
        _check_not_truncated(sound, where)
        data = sound.read(dtype="float32", always_2d=True)
        return data, int(sound.samplerate)


def _run_pipe(command: str, where: str) -> bytes:
    proc = subprocess.run(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioError(f"{where}: pipe command failed with exit code {proc.returncode}: {err[-1] if err else ''}")
    if not proc.stdout:
        raise AudioError(f"{where}: pipe command produced no audio")
    return proc.stdout


def _ark_path(entry: str) -> str:
    return entry[: entry.rindex(".ark:") + len(".ark")]


def _read_ark(entry: str, where: str) -> Tuple[np.ndarray, int]:
    import kaldiio

    ark = _ark_path(entry)
    if not os.path.isfile(ark):
        raise AudioError(f"{where}: ark file {ark} not found")
    offset = re.match(r"\d+", entry[len(ark) + 1 :])
    if offset is None:
        raise AudioError(f"{where}: expected '<file>.ark:<byte offset>'")
    if int(offset.group()) >= os.path.getsize(ark):
        raise AudioError(f"{where}: offset {offset.group()} is past the end of {ark} ({os.path.getsize(ark)} bytes)")
    loaded = kaldiio.load_mat(entry)
    if not isinstance(loaded, tuple):
        raise AudioError(f"{where}: ark entry holds a matrix, not audio")
    rate, data = loaded
    data = np.asarray(data)
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    elif data.dtype == np.int32:
        data = data.astype(np.float32) / 2147483648.0
    data = data.astype(np.float32)
    return (data[:, None] if data.ndim == 1 else data), int(rate)


def load_raw(entry: str, key: Optional[str] = None) -> Tuple[np.ndarray, int]:
    """Decode a wav.scp value into ``(samples[T, C] float32, rate)``; only decoding is checked."""
    where = _where(entry, key)
    entry = entry.strip()
    try:
        kind = entry_kind(entry)
        if kind == "pipe":
            return _decode(io.BytesIO(_run_pipe(entry[:-1], where)), where)
        if kind == "ark":
            return _read_ark(entry, where)
        if not os.path.exists(entry):
            raise AudioError(f"{where}: file not found")
        return _decode(entry, where)
    except AudioError:
        raise
    except Exception as e:  # soundfile/kaldiio raise many types for corrupt data
        raise AudioError(f"{where}: cannot decode audio: {str(e) or type(e).__name__}") from None


def audio_info(entry: str, key: Optional[str] = None) -> AudioInfo:
    """Rate, length and channels of an entry; plain files are not decoded (header only).

    Pipes and ark entries are decoded, since their headers cannot be read on their own.
    """
    where = _where(entry, key)
    entry = entry.strip()
    if entry_kind(entry) != "file":
        data, rate = load_raw(entry, key)
        return AudioInfo(rate, data.shape[0], data.shape[1])
    if not os.path.exists(entry):
        raise AudioError(f"{where}: file not found")
    try:
        with sf.SoundFile(entry) as sound:
            _check_not_truncated(sound, where)
            return AudioInfo(int(sound.samplerate), int(sound.frames), int(sound.channels))
    except AudioError:
        raise
    except Exception as e:
        raise AudioError(f"{where}: cannot read audio header: {e}") from None


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a 1-D or [T, C] signal with soxr (high quality)."""
    if orig_sr == target_sr:
        return wav
    import soxr

    return soxr.resample(wav, orig_sr, target_sr, quality="HQ").astype(np.float32)


def resampled_length(num_samples: int, orig_sr: int, target_sr: int) -> int:
    """The length :func:`resample` returns (soxr rounds ``n * target / orig`` half up)."""
    return (2 * num_samples * target_sr + orig_sr) // (2 * orig_sr)


def check_info(info: AudioInfo, where: str, sample_rate: Optional[int] = None, mono: bool = True) -> None:
    """Raise AudioError for empty audio, extra channels (when ``mono``) or a wrong rate."""
    if info.num_samples == 0:
        raise AudioError(f"{where}: empty audio (0 samples)")
    if mono and info.channels != 1:
        raise AudioError(f"{where}: expected mono audio, got {info.channels} channels")
    if sample_rate is not None and info.sample_rate != sample_rate:
        raise AudioError(f"{where}: sample rate {info.sample_rate} Hz, expected {sample_rate} Hz")


def check_samples(
    data: np.ndarray,
    rate: int,
    where: str,
    sample_rate: Optional[int] = None,
    mono: bool = True,
) -> None:
    """:func:`check_info` on decoded ``[T, C]`` samples, and raise for NaN/inf samples."""
    check_info(AudioInfo(rate, data.shape[0], data.shape[1]), where, sample_rate, mono)
    finite = np.isfinite(data).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise AudioError(f"{where}: audio contains NaN or inf samples (first at sample {bad})")


def read_audio(
    entry: str,
    sample_rate: Optional[int] = None,
    resample_to_rate: bool = False,
    key: Optional[str] = None,
    mono: bool = True,
) -> Tuple[np.ndarray, int]:
    """Read one wav.scp value as float32 samples in [-1, 1].

    Raises AudioError naming the utterance for: missing, truncated or undecodable files, failing
    pipes, empty audio, NaN/inf samples, more than one channel when ``mono`` and a sample rate
    that differs from ``sample_rate`` (unless ``resample_to_rate``, which resamples with soxr).
    Returns ``[T]`` when ``mono`` else ``[T, C]``.
    """
    data, rate = load_raw(entry, key)
    where = _where(entry, key)
    check_samples(data, rate, where, None if resample_to_rate else sample_rate, mono)
    if mono:
        data = data[:, 0]
    if sample_rate is not None and rate != sample_rate:
        data, rate = resample(data, rate, sample_rate), sample_rate
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


#: Output formats by file extension: (libsndfile format, subtype).
AUDIO_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def write_wav(path: PathLike, wav: np.ndarray, sample_rate: int, subtype: str = "PCM_16", format: str = "WAV") -> None:
    """Write audio atomically (a wav unless ``format`` says otherwise); float input is clipped to [-1, 1]."""
    wav = np.asarray(wav, dtype=np.float32)
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{path}: refusing to write audio with NaN or inf samples")
    if subtype.startswith("PCM") or format != "WAV":
        wav = np.clip(wav, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav, sample_rate, subtype=subtype, format=format)


def audio_format(path: PathLike) -> Tuple[str, str]:
    """``(format, subtype)`` that the extension of ``path`` names; AudioError for other extensions."""
    suffix = Path(path).suffix.lower()
    if suffix not in AUDIO_FORMATS:
        raise AudioError(f"{path}: unknown audio extension '{suffix}' (use one of {', '.join(AUDIO_FORMATS)})")
    return AUDIO_FORMATS[suffix]


def write_audio(path: PathLike, wav: np.ndarray, sample_rate: int) -> None:
    """Write audio in the format its extension names (.wav, .flac, .ogg); other extensions are refused."""
    container, subtype = audio_format(path)
    write_wav(path, wav, sample_rate, subtype, container)
