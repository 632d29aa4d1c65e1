"""Enhance wav.scp entries or single files with a trained model; write wavs and a wav.scp.

Output keeps the input's sample rate: input at another rate than the model's
(``model.sample_rate``, e.g. 16 kHz) is resampled to the model's rate (soxr), enhanced, and
resampled back. Outputs are written atomically one by one, and ``OUT/wav.scp`` only after
every key succeeded, so a failed job leaves no wav.scp (and its finished wavs stay, to be
reused with ``skip_existing``).
"""
from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Protocol, Tuple, Union

import numpy as np
import soundfile as sf
import torch

from mal.enhance.chunked import DEFAULT_NORM_RMS, EnhanceError, enhance_chunked
from mal.enhance.streaming import DEFAULT_BLOCK_SECONDS, check_streamable, enhance_streaming
from mal.io.atomic import atomic_path, remove_temporaries
from mal.io.audio import AudioError, audio_format, audio_info, read_audio, resample
from mal.io.paths import is_same_file
from mal.io.scp import read_scp, write_scp
from mal.models.abs_model import AbsSEModel
from mal.models.pretrained import load_model, resolve_device
from mal.progress import progress

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)


@dataclass
class EnhanceOptions:
    """How to run the model: offline in chunks, or streaming in blocks."""

    chunk_seconds: float = 10.0
    overlap_seconds: float = 1.0
    streaming: bool = False
    block_seconds: float = DEFAULT_BLOCK_SECONDS
    norm_rms: Optional[float] = DEFAULT_NORM_RMS


#: Sample rates accepted (Hz). Below 1 kHz a few samples resample to a long signal at the model's
#: rate (1 Hz: 16000 model samples per input sample); above 384 kHz no audio interface records.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000


def check_sample_rate(rate: object, what: str = "sample rate") -> int:
    """``rate`` as an int; EnhanceError unless it is a whole number of Hz in [1 kHz, 384 kHz]."""
    try:
        value = float(rate)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise EnhanceError(f"{what} must be a number of Hz, got {rate!r}") from None
    if isinstance(rate, bool) or not value.is_integer():
        raise EnhanceError(f"{what} must be a whole number of Hz, got {rate!r}")
    if not MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
        raise EnhanceError(f"{what} {rate!r} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    return int(value)


def check_finite(wav: np.ndarray, what: str = "input") -> None:
    """EnhanceError naming the first NaN or inf sample of ``wav`` (one would make all the output NaN)."""
    finite = np.isfinite(wav)
    if not finite.all():
        index = np.unravel_index(int(np.flatnonzero(~finite.reshape(-1))[0]), wav.shape)
        where = f"sample {index[-1]}" if wav.ndim == 1 else f"row {index[0]}, sample {index[-1]}"
        raise EnhanceError(f"{what}: {where} is {wav[index]} (NaN or inf samples would make the whole output NaN)")


class OutputError(EnhanceError):
    """An output that cannot be written (a full or read-only disk, an I/O error): stops a batch."""


def write_output(path: PathLike, wav: np.ndarray, rate: int) -> None:
    """Write audio atomically in the format the extension of ``path`` names, clipped to [-1, 1].

    A full or read-only disk or an I/O error is an OutputError with the system's reason (where
    libsndfile only says "System error", the encoded bytes are written through Python to get it)."""
    container, subtype = audio_format(path)
    wav = np.asarray(wav, dtype=np.float32)
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{path}: refusing to write audio with NaN or inf samples")
    wav = np.clip(wav, -1.0, 1.0)
    try:
        with atomic_path(path) as tmp:
            try:
                sf.write(str(tmp), wav, rate, format=container, subtype=subtype)
            except RuntimeError:
                encoded = io.BytesIO()
                sf.write(encoded, wav, rate, format=container, subtype=subtype)
                with open(tmp, "wb") as f:
                    f.write(encoded.getbuffer())
    except OSError as e:
        raise OutputError(f"{path}: cannot write: {e.strerror or e}") from None


def fit_output(wav: np.ndarray, where: str, input_peak: float, norm_rms: Optional[float] = DEFAULT_NORM_RMS,
               keep_level: bool = False) -> np.ndarray:
    """Output of float input above 1.0 that would clip when written (peak above 1) is scaled, with a
    warning, to ``norm_rms`` (the level the model ran at; peak 1 when 0 or None) and never above
    peak 1; ``keep_level`` keeps it (clipped when written). Output of input in [-1, 1] is kept."""
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if input_peak <= 1.0 or peak <= 1.0:
        return wav
    clipped = float(np.mean(np.abs(wav) > 1.0)) * 100
    if keep_level:
        log.warning("%s: the output peaks at %.4g (float input above 1.0): %.1f%% of its samples are clipped to [-1, 1] "
                    "(--keep-level)", where, peak, clipped)
        return wav
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    gain = min(norm_rms / rms if norm_rms else 1.0, 1.0 / peak)
    log.warning("%s: the output peaks at %.4g (float input above 1.0): %.1f%% of it would clip; scaled by %.3g to RMS %.3g "
                "(--keep-level keeps the input's level, clipped)", where, peak, clipped, gain, rms * gain)
    return (wav * gain).astype(np.float32)


def output_norm_rms(enhancer: object) -> Optional[float]:
    """The level an Enhancer runs its model at (its ``norm_rms``); the default one for peers."""
    options = getattr(enhancer, "options", None)
    return options.norm_rms if isinstance(options, EnhanceOptions) else DEFAULT_NORM_RMS


def pick_device(name: str = "cpu") -> torch.device:
    """``auto`` -> cuda when available, else cpu; an unavailable or unknown device is an EnhanceError."""
    try:
        return resolve_device(name)
    except (RuntimeError, ValueError) as e:
        raise EnhanceError(str(e)) from None


class SignalEnhancer(Protocol):
    """Anything that enhances a 1-D signal keeping rate and length: an Enhancer or a peer."""

    def enhance(self, wav: np.ndarray, sample_rate: int) -> np.ndarray: ...


def enhance_entry(enhancer: SignalEnhancer, entry: str, key: str) -> Tuple[np.ndarray, int]:
    """Read one wav.scp value, enhance it; errors name ``key``. Returns ``(wav, rate)``."""
    out, rate, _ = read_and_enhance(enhancer, entry, key)
    return out, rate


def read_and_enhance(enhancer: SignalEnhancer, entry: str, key: str) -> Tuple[np.ndarray, int, float]:
    """:func:`enhance_entry`, plus the input's peak: ``(wav, rate, input_peak)``."""
    wav, rate = read_audio(entry, key=key)
    try:
        out = enhancer.enhance(wav, rate)
    except (EnhanceError, RuntimeError) as e:  # RuntimeError: the model itself failed
        raise EnhanceError(f"utterance '{key}': {e}") from None
    if not np.all(np.isfinite(out)):
        raise EnhanceError(f"utterance '{key}': the model produced NaN or inf samples")
    return out, rate, float(np.max(np.abs(wav)))


class Enhancer:
    """A loaded model plus options: ``enhance(wav, rate)`` returns output at the same rate."""

    def __init__(self, model: AbsSEModel, options: Optional[EnhanceOptions] = None, device: Union[str, torch.device] = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.options = options or EnhanceOptions()
        if self.options.streaming:
            check_streamable(self.model)

    @classmethod
    def from_checkpoint(cls, path: PathLike, options: Optional[EnhanceOptions] = None, device: str = "cpu") -> "Enhancer":
        """Load a ``model.pth`` or packed archive (see mal.models.pretrained.load_model)."""
        dev = pick_device(device)
        model, _ = load_model(path, device=dev)
        return cls(model, options, dev)

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)

    def enhance(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Enhance a 1-D float numpy signal; output has the input's rate and length.

        (``mal.load(...).enhance`` also takes torch tensors and [batch, time].)"""
        if not isinstance(wav, np.ndarray) or wav.ndim != 1:
            raise TypeError(f"Enhancer.enhance takes a 1-D numpy array, got {type(wav).__name__} {tuple(getattr(wav, 'shape', ()))}; "
                            "mal.load(...).enhance(x, rate) takes numpy or torch, [time] or [batch, time]")
        sample_rate = check_sample_rate(sample_rate)
        check_finite(wav)
        x = resample(wav, sample_rate, self.sample_rate)
        opts = self.options
        if opts.streaming:
            y = enhance_streaming(self.model, x, opts.block_seconds, opts.norm_rms, self.device)
        else:
            y = enhance_chunked(self.model, x, opts.chunk_seconds, opts.overlap_seconds, opts.norm_rms, self.device)
        y = resample(y, self.sample_rate, sample_rate)
        if len(y) < len(wav):
            y = np.pad(y, (0, len(wav) - len(y)))
        return np.ascontiguousarray(y[: len(wav)], dtype=np.float32)

    def enhance_entry(self, entry: str, key: str) -> Tuple[np.ndarray, int]:
        """Read one wav.scp value, enhance it; errors name ``key``. Returns ``(wav, rate)``."""
        return enhance_entry(self, entry, key)


def read_key_file(path: PathLike) -> List[str]:
    """Keys of a key file: the first field of each line (a key list or any Kaldi table)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise EnhanceError(f"{path}: key file not found") from None
    keys: Dict[str, int] = {}
    for lineno, line in enumerate(raw.splitlines(), start=1):
        try:
            fields = line.decode("utf-8").split()
        except UnicodeDecodeError as e:
            raise EnhanceError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
        if not fields:
            raise EnhanceError(f"{path}:{lineno}: empty line")
        if fields[0] in keys:
            raise EnhanceError(f"{path}:{lineno}: duplicate key '{fields[0]}' (first on line {keys[fields[0]]})")
        keys[fields[0]] = lineno
    return list(keys)


def select_keys(table: Dict[str, str], key_file: Optional[PathLike], table_path: PathLike) -> List[str]:
    """All keys of ``table`` in file order, or those listed in ``key_file`` (must all exist)."""
    if key_file is None:
        return list(table)
    keys = read_key_file(key_file)
    missing = [k for k in keys if k not in table]
    if missing:
        raise EnhanceError(f"{key_file}: key '{missing[0]}' not in {table_path} ({len(missing)} missing in all)")
    return keys


def output_path(out_dir: PathLike, key: str) -> Path:
    if "/" in key or key in (".", ".."):
        raise EnhanceError(f"utterance '{key}': key cannot be used as a file name")
    return Path(out_dir).resolve() / "wav" / f"{key}.wav"


def is_finished_output(path: Path) -> bool:
    """An existing, non-empty wav whose header is intact (not cut off): reusable by ``skip_existing``."""
    if not path.is_file():
        return False
    try:
        return audio_info(str(path)).num_samples > 0
    except AudioError:
        return False


def enhance_scp(
    enhancer: SignalEnhancer,
    wav_scp: PathLike,
    out_dir: PathLike,
    key_file: Optional[PathLike] = None,
    skip_existing: bool = False,
    keep_level: bool = False,
) -> Dict[str, str]:
    """Enhance every (or every key-file) entry of ``wav_scp`` into ``out_dir/wav/<key>.wav``.

    ``enhancer`` is an :class:`Enhancer` or anything with its ``enhance(wav, rate)`` (a peer).

    Writes ``out_dir/wav.scp`` (absolute paths, sorted) once all keys are done and returns it
    as a dict; a wav.scp left by an earlier run is removed first, so ``out_dir/wav.scp`` exists
    only after a run that finished. Bad input stops with an error naming the wav.scp line and
    the key; finished wavs are kept, and ``skip_existing`` reuses those that are intact. Output
    that would clip is scaled down with a warning unless ``keep_level`` (see :func:`fit_output`).
    """
    table = read_scp(wav_scp)
    keys = select_keys(table, key_file, wav_scp)
    lines = {key: lineno for lineno, key in enumerate(table, start=1)}  # read_scp: one entry per line
    if not keys:
        raise EnhanceError(f"{key_file or wav_scp}: no utterances to enhance (empty file)")
    for key in keys:
        if is_same_file(table[key].strip(), output_path(out_dir, key)):
            raise EnhanceError(f"{wav_scp}:{lines[key]}: utterance '{key}': its output {output_path(out_dir, key)} "
                               "is the input file; choose another --out-dir")
    (Path(out_dir) / "wav.scp").unlink(missing_ok=True)
    written: Dict[str, str] = {}
    skipped, audio_seconds, started = 0, 0.0, time.perf_counter()
    for key in progress(keys, desc="enhance", logger=log):
        path = output_path(out_dir, key)
        if skip_existing and is_finished_output(path):
            written[key] = str(path)
            skipped += 1
            continue
        try:
            wav, rate, peak = read_and_enhance(enhancer, table[key], key)
        except (AudioError, EnhanceError) as e:
            raise type(e)(f"{wav_scp}:{lines[key]}: {e}") from None
        remove_temporaries(path)  # left by a killed run
        wav = fit_output(wav, f"{wav_scp}:{lines[key]}: utterance '{key}'", peak, output_norm_rms(enhancer), keep_level)
        write_output(path, wav, rate)
        written[key] = str(path)
        audio_seconds += len(wav) / rate
    write_scp(Path(out_dir) / "wav.scp", written)
    elapsed = time.perf_counter() - started
    rtf = elapsed / audio_seconds if audio_seconds else float("nan")
    log.info("enhanced %d utterances (%d skipped, %.1f s of audio) in %.1f s, RTF %.4f", len(keys) - skipped, skipped, audio_seconds, elapsed, rtf)
    return written


def enhance_file(enhancer: SignalEnhancer, in_path: PathLike, out_path: PathLike) -> None:
    """Enhance one audio file into ``out_path`` at the input's rate, in the format its extension
    names (.wav, .flac: 16-bit PCM; .ogg: Vorbis). An output that is the input file is refused."""
    if is_same_file(in_path, out_path):
        raise EnhanceError(f"{out_path}: the output is the input file {in_path}; choose another output path")
    audio_format(out_path)  # an unknown extension fails before any work
    wav, rate, peak = read_and_enhance(enhancer, str(in_path), Path(in_path).name)
    write_output(out_path, fit_output(wav, str(in_path), peak, output_norm_rms(enhancer)), rate)
