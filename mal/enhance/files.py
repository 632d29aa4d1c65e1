"""Enhance audio files: one file, every audio file under a folder, or a glob; stereo by choice.

A folder or glob is mirrored under the output folder (``in/a/b.wav`` -> ``out/a/b.wav``). The
output keeps the input's format when it is one mal writes (wav, flac, ogg), else it is a wav.
Multichannel input needs a choice: ``downmix`` (the channels' mean, enhanced once, mono out)
or ``each`` (every channel enhanced on its own, as many channels out).

A folder or glob is enhanced file by file: a file that cannot be read or enhanced is logged and
the others go on (:class:`BatchError` at the end lists the failures); an output that cannot be
written (full or read-only disk) stops the batch. Temporary files that a killed mal write left
(``.NAME.*.tmp.wav``) are never taken as input, and are removed when NAME is written again.
"""
from __future__ import annotations

import glob
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from mal.enhance.chunked import EnhanceError
from mal.enhance.inference import OutputError, SignalEnhancer, fit_output, output_norm_rms, write_output
from mal.io.atomic import is_temporary, remove_temporaries
from mal.io.audio import AUDIO_FORMATS, AudioError, audio_format, read_audio
from mal.io.paths import is_same_file
from mal.progress import progress

PathLike = Union[str, os.PathLike]
log = logging.getLogger(__name__)

CHANNEL_MODES = ("downmix", "each")
#: Extensions picked up in a folder (what libsndfile decodes).
INPUT_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64", ".rf64")
GLOB_CHARS = set("*?[")


class BatchError(EnhanceError):
    """Some files of a folder or glob failed (each logged); the others were written."""


def is_glob(pattern: str) -> bool:
    return any(c in pattern for c in GLOB_CHARS)


def output_name(relative: Path) -> Path:
    """``relative`` with its extension kept when mal writes that format, else ``.wav``."""
    return relative if relative.suffix.lower() in AUDIO_FORMATS else relative.with_suffix(".wav")


def glob_base(pattern: str) -> Path:
    """The folder part of ``pattern`` before its first wildcard (what outputs are relative to)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if is_glob(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def plan_outputs(source: PathLike, out: PathLike) -> List[Tuple[Path, Path]]:
    """``(input, output)`` pairs for a file, a folder (recursive) or a glob (``**`` recurses).

    A single file goes to ``out`` (or into it, when ``out`` is a folder). Two inputs that would
    write one output (``a.mp3`` and ``a.wav``), a folder or glob without audio, and an output
    folder that is (or holds) the input folder are errors. Files under ``out`` (an output folder
    inside the input one) and mal's own temporary files are skipped.
    """
    text = str(source)
    path = Path(text)
    if path.is_file():
        target = Path(out)
        into_folder = target.is_dir() or str(out).endswith(("/", os.sep))
        return [(path, target / output_name(Path(path.name)) if into_folder else target)]
    out_root = Path(out).resolve()
    if path.is_dir():
        if path.resolve().is_relative_to(out_root):
            how = "is" if path.resolve() == out_root else "holds"
            raise EnhanceError(f"{out}: the output folder {how} the input folder {path}; outputs would mix with "
                               "(and be read back as) inputs: choose an output folder outside it")
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_EXTENSIONS]
        base, what = path, f"folder {path} (audio extensions: {' '.join(INPUT_EXTENSIONS)})"
    elif is_glob(text):
        found = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
        base, what = glob_base(text), f"pattern '{text}'"
    else:
        raise EnhanceError(f"{text}: no such file or folder")
    leftovers = [p for p in found if is_temporary(p)]
    if leftovers:
        log.warning("skipping %d temporary file(s) that an interrupted mal write left, e.g. %s", len(leftovers), leftovers[0])
    inside = [p for p in found if p.resolve().is_relative_to(out_root)]  # an output folder inside the input one
    inputs = sorted(set(found) - set(leftovers) - set(inside))
    if not inputs and inside:
        raise EnhanceError(f"{out}: every file that matches {what} is inside the output folder; choose an output folder outside it")
    if not inputs:
        raise EnhanceError(f"no audio files match {what}")
    pairs: List[Tuple[Path, Path]] = []
    taken: Dict[Path, Path] = {}
    for item in inputs:
        target = Path(out) / output_name(item.relative_to(base))
        if target in taken:
            raise EnhanceError(f"{item} and {taken[target]} would both be written to {target}; rename one")
        taken[target] = item
        pairs.append((item, target))
    return pairs


def enhance_channels(enhancer: SignalEnhancer, wav: np.ndarray, rate: int, channels: Optional[str], where: str) -> np.ndarray:
    """Enhance ``wav`` [T, C]: mono as is; several channels as ``channels`` says. Returns [T] or [T, C]."""
    if wav.shape[1] == 1:
        return enhancer.enhance(wav[:, 0], rate)
    if channels not in CHANNEL_MODES:
        raise EnhanceError(f"{where}: {wav.shape[1]} channels; choose --channels downmix (one mono output) or each")
    if channels == "downmix":
        return enhancer.enhance(np.ascontiguousarray(wav.mean(axis=1)), rate)
    return np.stack([enhancer.enhance(np.ascontiguousarray(wav[:, c]), rate) for c in range(wav.shape[1])], axis=1)


def enhance_path(enhancer: SignalEnhancer, in_path: PathLike, out_path: PathLike, channels: Optional[str] = None,
                 keep_level: bool = False) -> None:
    """Enhance one audio file into ``out_path`` (format from its extension, input's rate).

    Unreadable input or a failing model: EnhanceError (AudioError) naming ``in_path``; an output
    that cannot be written: OutputError naming ``out_path``."""
    if is_same_file(in_path, out_path):
        raise EnhanceError(f"{out_path}: the output is the input file {in_path}; choose another output path")
    audio_format(out_path)  # an unknown extension fails before any work
    wav, rate = read_audio(str(in_path), key=str(in_path), mono=False)
    try:
        out = enhance_channels(enhancer, wav, rate, channels, str(in_path))
    except RuntimeError as e:  # the model itself failed
        raise EnhanceError(f"{in_path}: {e}") from None
    except EnhanceError as e:
        raise EnhanceError(str(e) if str(in_path) in str(e) else f"{in_path}: {e}") from None
    if not np.all(np.isfinite(out)):
        raise EnhanceError(f"{in_path}: the model produced NaN or inf samples")
    remove_temporaries(out_path)  # left by a killed run
    out = fit_output(out, str(in_path), float(np.max(np.abs(wav))), output_norm_rms(enhancer), keep_level)
    write_output(out_path, out, rate)


def enhance_paths(enhancer: SignalEnhancer, source: PathLike, out: PathLike, channels: Optional[str] = None,
                  no_clobber: bool = False, keep_level: bool = False) -> List[Path]:
    """Enhance a file, a folder or a glob (see :func:`plan_outputs`); returns the outputs written.

    An existing output is replaced (and logged), or kept with ``no_clobber``. With several inputs
    a file that fails is logged and skipped, and :class:`BatchError` ends the run."""
    pairs = plan_outputs(source, out)
    written: List[Path] = []
    failed: List[Path] = []
    kept = 0
    for in_path, out_path in progress(pairs, desc="enhance", unit="files", logger=log):
        if out_path.exists() and not is_same_file(in_path, out_path):
            if no_clobber:
                log.info("%s exists: kept (--no-clobber)", out_path)
                kept += 1
                continue
            log.info("%s exists: replacing it (--no-clobber keeps existing outputs)", out_path)
        try:
            enhance_path(enhancer, in_path, out_path, channels, keep_level)
        except OutputError as e:
            done = f" ({len(written)} written before it)" if written else ""
            raise OutputError(f"{e}{done}") from None
        except (AudioError, EnhanceError) as e:
            if len(pairs) == 1:
                raise EnhanceError(str(e)) from None
            log.error("skipped: %s", e)
            failed.append(in_path)
            continue
        written.append(out_path)
    if len(pairs) > 1:
        log.info("enhanced %d files from %s into %s (%d failed, %d existing kept)", len(written), source, out, len(failed), kept)
    if failed:
        names = ", ".join(str(p) for p in failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
        raise BatchError(f"{len(failed)} of {len(pairs)} files failed (logged above): {names}; the other {len(pairs) - len(failed)} are in {out}")
    return written
