"""Room impulse responses for optional reverberation of the DNS training mixtures.

Either the challenge's own RIRs (``datasets/impulse_responses/``, shipped from the ICASSP 2021
challenge on: SLR26 simulated and SLR28 real RIRs; any folder of RIR wavs works), or, when
no folder is given, shoebox rooms simulated with pyroomacoustics (``pip install
pyroomacoustics``, the ``dns`` extra of setup.py) and written once as wavs so runs are
reproducible and the RIRs can be inspected.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

from mal.io import write_wav
from mal.io.audio import resample

#: Simulated rooms: size ranges in metres (length, width, height) and RT60 range in seconds
#: (the RT60 range of the challenge's synthesizer config).
ROOM_SIZE = ((3.0, 10.0), (3.0, 8.0), (2.5, 4.0))
RT60_RANGE = (0.3, 1.3)
#: Image-source order cap: keeps simulation time bounded for long RT60s.
MAX_ORDER = 40


class RirError(RuntimeError):
    """No usable RIRs; the message says where they were expected or what to install."""


def find_rirs(folder: Path) -> List[Path]:
    """Every ``*.wav`` under ``folder`` (recursively), sorted."""
    if not folder.is_dir():
        raise RirError(f"RIR folder {folder} not found")
    rirs = sorted(p for p in folder.rglob("*.wav") if p.is_file())
    if not rirs:
        raise RirError(f"{folder}: no .wav room impulse responses found (searched recursively)")
    return rirs


def load_rir(path: Path, rate: int) -> np.ndarray:
    """First channel of an RIR file at ``rate``, starting at its direct path, peak-normalised."""
    data, src_rate = sf.read(str(path), dtype="float32", always_2d=True)
    rir = resample(data[:, 0], src_rate, rate)
    peak = int(np.argmax(np.abs(rir)))
    if np.abs(rir[peak]) == 0:
        raise RirError(f"{path}: impulse response is all zeros")
    rir = rir[peak:]
    return (rir / np.abs(rir[0])).astype(np.float32)


def simulate_rir(rng: np.random.Generator, rate: int) -> Tuple[np.ndarray, float]:
    """One shoebox RIR with random size, RT60, source and microphone: ``(rir, rt60)``."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise RirError("reverberation without an RIR folder needs pyroomacoustics: pip install pyroomacoustics "
                       "(or pass --rir_dir with RIR wavs, e.g. the challenge's datasets/impulse_responses)") from None
    dims = [float(rng.uniform(*r)) for r in ROOM_SIZE]
    rt60 = float(rng.uniform(*RT60_RANGE))
    try:
        absorption, order = pra.inverse_sabine(rt60, dims)
    except ValueError:  # RT60 too long for this room: the most reflective walls allowed
        absorption, order = 0.05, MAX_ORDER
    room = pra.ShoeBox(dims, fs=rate, materials=pra.Material(absorption), max_order=min(order, MAX_ORDER))

    def inside(margin: float = 0.5) -> List[float]:
        return [float(rng.uniform(margin, d - margin)) for d in dims]

    room.add_source(inside())
    room.add_microphone(inside())
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float32)
    peak = int(np.argmax(np.abs(rir)))
    return (rir[peak:] / np.abs(rir[peak])).astype(np.float32), rt60


def simulated_rir_files(folder: Path, count: int, rate: int, seed: int) -> List[Path]:
    """``count`` simulated RIRs as ``folder/sim_<i>.wav``; files already there are kept."""
    paths = []
    for i in range(count):
        path = folder / f"sim_{i:05d}.wav"
        if not path.is_file():
            rir, _ = simulate_rir(np.random.default_rng([seed, i]), rate)
            write_wav(path, rir, rate, subtype="FLOAT")
        paths.append(path)
    return paths


def reverberate(clean: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``clean`` convolved with ``rir``, cut to the length of ``clean``."""
    return fftconvolve(clean, rir)[: len(clean)].astype(np.float32)
