"""Read audio from Kaldi wav.scp entries (paths, ``cmd |`` pipes, ``ark:offset``) and write wavs."""
from __future__ import annotations

import io
import os
import subprocess
from typing import Optional, Tuple, Union

import numpy as np
import soundfile as sf

from mal.io.atomic import atomic_path

PathLike = Union[str, os.PathLike]


class AudioError(ValueError):
    """Audio that cannot be used; the message names the utterance and the file."""


def _where(entry: str, key: Optional[str]) -> str:
    return f"utterance '{key}' ({entry})" if key else f"{entry}"


def _read_pipe(command: str, where: str) -> Tuple[np.ndarray, int]:
    proc = subprocess.run(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioError(f"{where}: pipe command failed with exit code {proc.returncode}: {err[-1] if err else ''}")
    if not proc.stdout:
        raise AudioError(f"{where}: pipe command produced no audio")
    return sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)


def _read_ark(entry: str) -> Tuple[np.ndarray, int]:
    import kaldiio

    loaded = kaldiio.load_mat(entry)
    if not isinstance(loaded, tuple):
        raise AudioError(f"{entry}: ark entry holds a matrix, not audio")
    rate, data = loaded
    data = np.asarray(data)
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    elif data.dtype == np.int32:
        data = data.astype(np.float32) / 2147483648.0
    data = data.astype(np.float32)
    return (data[:, None] if data.ndim == 1 else data), int(rate)


def load_raw(entry: str, key: Optional[str] = None) -> Tuple[np.ndarray, int]:
    """Decode a wav.scp value into ``(samples[T, C] float32, rate)`` without checks."""
    where = _where(entry, key)
    entry = entry.strip()
    try:
        if entry.endswith("|"):
            return _read_pipe(entry[:-1], where)
        if ".ark:" in entry:
            return _read_ark(entry)
        if not os.path.exists(entry):
            raise AudioError(f"{where}: file not found")
        return sf.read(entry, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as e:  # soundfile/kaldiio raise many types for corrupt data
        raise AudioError(f"{where}: cannot decode audio: {e}") from None


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a 1-D or [T, C] signal with soxr (high quality)."""
    if orig_sr == target_sr:
        return wav
    import soxr

    return soxr.resample(wav, orig_sr, target_sr, quality="HQ").astype(np.float32)


def read_audio(
    entry: str,
    sample_rate: Optional[int] = None,
    resample_to_rate: bool = False,
    key: Optional[str] = None,
    mono: bool = True,
) -> Tuple[np.ndarray, int]:
    """Read one wav.scp value as float32 samples in [-1, 1].

    Raises AudioError naming the utterance for: missing or undecodable files, failing pipes,
    empty audio, NaN/inf samples, more than one channel when ``mono`` and a sample rate that
    differs from ``sample_rate`` (unless ``resample_to_rate``).
    """
    data, rate = load_raw(entry, key)
    where = _where(entry, key)
    if data.shape[0] == 0:
        raise AudioError(f"{where}: empty audio (0 samples)")
    if mono:
        if data.shape[1] != 1:
            raise AudioError(f"{where}: expected mono audio, got {data.shape[1]} channels")
        data = data[:, 0]
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{where}: audio contains NaN or inf samples")
    if sample_rate is not None and rate != sample_rate:
        if not resample_to_rate:
            raise AudioError(f"{where}: sample rate {rate} Hz, expected {sample_rate} Hz")
        data, rate = resample(data, rate, sample_rate), sample_rate
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


def write_wav(path: PathLike, wav: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write a wav atomically; float input is clipped to [-1, 1] for integer subtypes."""
    wav = np.asarray(wav, dtype=np.float32)
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{path}: refusing to write audio with NaN or inf samples")
    if subtype.startswith("PCM"):
        wav = np.clip(wav, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav, sample_rate, subtype=subtype, format="WAV")
