"""Shared helpers of the reliability tests: small audio sets, tiny models, and real SIGKILLs.

``run_forked(target, log)`` runs ``target()`` in a forked child (torch is already imported, so a
child starts in milliseconds instead of seconds) and returns its exit code, or ``-9`` when it
was killed by SIGKILL. The ``kill_*`` functions, called inside such a child, make it SIGKILL
itself at one precise moment: the n-th call of a function, or half-way through writing a file
(the partial bytes are on disk first, as when a machine dies mid-write).
"""
from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Union

import numpy as np
import soundfile as sf
import torch

from mal.io import write_wav
from mal.models import build_model
from mal.models.checkpoint import model_record, save_checkpoint

SR = 16000
KILLED = -signal.SIGKILL


# --- data and models ----------------------------------------------------------------------------


def speech_like(num_samples: int, seed: int, sample_rate: int = SR) -> np.ndarray:
    """Harmonics of a gliding pitch under a syllable envelope, plus a little noise (peak ~0.4)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / sample_rate
    f0 = (110 + 17 * seed) * (1 + 0.08 * np.sin(2 * np.pi * 1.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wav = sum(np.sin(k * phase + rng.uniform(0, 6.28)) / k for k in range(1, 9))
    wav *= 0.5 * (1 + np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6.28)))
    wav = 0.35 * wav / max(np.max(np.abs(wav)), 1e-9) + 0.02 * rng.standard_normal(num_samples)
    return wav.astype(np.float32)


def write_wav_scp(root: Path, name: str, wavs: Dict[str, np.ndarray], rate: int = SR) -> Path:
    """``root/<name>/<key>.wav`` for each signal and ``root/<name>.scp`` listing them (sorted)."""
    lines = []
    for key in sorted(wavs):
        path = root / name / f"{key}.wav"
        write_wav(path, wavs[key], rate)
        lines.append(f"{key} {path}\n")
    scp = root / f"{name}.scp"
    scp.write_text("".join(lines))
    return scp


def noisy_clean_set(root: Path, keys: Iterable[str], num_samples: int = 8000) -> Dict[str, Path]:
    """``{"noisy": scp, "clean": scp}`` of speech-like signals and the same plus white noise."""
    clean, noisy = {}, {}
    for i, key in enumerate(keys):
        clean[key] = speech_like(num_samples, i)
        noise = 0.05 * np.random.default_rng(1000 + i).standard_normal(num_samples).astype(np.float32)
        noisy[key] = clean[key] + noise
    return {"clean": write_wav_scp(root, "clean", clean), "noisy": write_wav_scp(root, "noisy", noisy)}


def tiny_checkpoint(path: Path, seed: int = 0, **conf) -> Path:
    """A ``model.pth`` of the registry's tiny model as mal-train writes it (self-describing)."""
    conf = {"channels": 4, "depth": 2, **conf}
    torch.manual_seed(seed)
    save_checkpoint(path, {"model": model_record(build_model("tiny", **conf), "tiny", conf)})
    return path


def read_wav(path: Union[str, Path]) -> np.ndarray:
    return sf.read(str(path), dtype="float32")[0]


def final_files(directory: Path) -> List[Path]:
    """Non-hidden files (what a reader would take as outputs; atomic temporaries are hidden)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def snapshot(paths: Iterable[Path]) -> Dict[str, tuple]:
    """``{name: (inode, mtime_ns, size)}``: a rewritten file changes at least one of them."""
    out = {}
    for p in paths:
        st = p.stat()
        out[p.name] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


# --- running and killing ----------------------------------------------------------------------


def run_forked(target: Callable[[], Optional[int]], log: Path) -> int:
    """Run ``target()`` in a forked child writing to ``log``; its exit code, or -9 if SIGKILLed."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            stream = open(log, "a", buffering=1, encoding="utf-8")
            os.dup2(stream.fileno(), 1)
            os.dup2(stream.fileno(), 2)
            sys.stdout = sys.stderr = stream
            result = target()
            code = int(result or 0)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - reported in the log, exit code 1
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def die() -> None:
    """SIGKILL this process: no cleanup handler, no finally block, no atexit runs."""
    os.kill(os.getpid(), signal.SIGKILL)


def kill_on_call(owner: object, name: str, nth: int) -> None:
    """Replace ``owner.name`` so that its ``nth`` call SIGKILLs the process (before running)."""
    real = getattr(owner, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == nth:
            die()
        return real(*args, **kwargs)

    setattr(owner, name, wrapper)


def kill_in_torch_save(name_part: str, nth: int = 1) -> None:
    """The ``nth`` torch.save to a file whose name contains ``name_part`` writes half its bytes, then SIGKILL."""
    real = torch.save
    seen = [0]

    def save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and name_part in os.path.basename(str(f)):
            seen[0] += 1
            if seen[0] == nth:
                buffer = io.BytesIO()
                real(obj, buffer, *args, **kwargs)
                _write_half_and_die(f, buffer.getvalue())
        return real(obj, f, *args, **kwargs)

    torch.save = save


def kill_in_sf_write(nth: int) -> None:
    """The ``nth`` soundfile.write (mal.io.write_wav's) leaves half a file behind, then SIGKILL."""
    real = sf.write
    seen = [0]

    def write(file, data, samplerate, *args, **kwargs):
        seen[0] += 1
        if seen[0] == nth:
            buffer = io.BytesIO()
            real(buffer, data, samplerate, *args, **kwargs)
            _write_half_and_die(file, buffer.getvalue())
        return real(file, data, samplerate, *args, **kwargs)

    sf.write = write


class _DyingFile:
    """A text file whose first ``write`` puts half of its text on disk, then SIGKILLs the process."""

    def __init__(self, f):
        self.f = f

    def write(self, text: str) -> int:
        self.f.write(text[: max(1, len(text) // 2)])
        self.f.flush()
        os.fsync(self.f.fileno())
        die()
        return 0  # never reached

    def __getattr__(self, name):
        return getattr(self.f, name)


def kill_in_atomic_open(module: object, name_part: str, nth: int = 1) -> None:
    """In ``module`` (which did ``from mal.io.atomic import atomic_open``), the ``nth`` atomic
    write of a file whose name contains ``name_part`` dies half-way through its first write."""
    real = module.atomic_open
    seen = [0]

    @contextlib.contextmanager
    def patched(path, *args, **kwargs):
        with real(path, *args, **kwargs) as f:
            if name_part in Path(path).name:
                seen[0] += 1
                if seen[0] == nth:
                    yield _DyingFile(f)
                    return
            yield f

    module.atomic_open = patched


def _write_half_and_die(path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data[: len(data) // 2])
        out.flush()
        os.fsync(out.fileno())
    die()
