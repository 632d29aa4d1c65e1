"""Simulated rooms: shoebox room impulse responses from pyroomacoustics (image source method).

Each room has random dimensions, a reverberation time, a source and a microphone at least
0.5 m from the walls and from each other. RIRs are a pure function of ``(seed, stream, index)``.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

ROOM_SIZE = ((3.0, 10.0), (3.0, 8.0), (2.4, 3.5))
RT60_RANGE = (0.15, 0.8)
MIN_DISTANCE = 0.5
MAX_ORDER = 12
#: Longest RIR kept (seconds): the tail beyond it is below audibility in a noisy mixture.
MAX_SECONDS = 0.8


def simulate_rir(rng: np.random.Generator, sample_rate: int) -> Tuple[np.ndarray, float]:
    """One random room's RIR (float32) and its target RT60 in seconds."""
    import pyroomacoustics as pra

    dims = np.array([rng.uniform(lo, hi) for lo, hi in ROOM_SIZE])
    rt60 = float(rng.uniform(*RT60_RANGE))
    try:
        absorption, _ = pra.inverse_sabine(rt60, dims)
    except ValueError:  # too reverberant for this room size under Sabine: take the least absorption allowed
        absorption = 0.05
    room = pra.ShoeBox(dims, fs=sample_rate, materials=pra.Material(absorption), max_order=MAX_ORDER)
    while True:
        source = np.array([rng.uniform(MIN_DISTANCE, d - MIN_DISTANCE) for d in dims])
        mic = np.array([rng.uniform(MIN_DISTANCE, d - MIN_DISTANCE) for d in dims])
        if np.linalg.norm(source - mic) >= MIN_DISTANCE:
            break
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float32)[: int(MAX_SECONDS * sample_rate)]
    return rir, rt60


def simulate_rirs(seed: int, stream: int, count: int, sample_rate: int) -> List[Tuple[np.ndarray, float]]:
    """``count`` rooms of one stream (train, valid, ... draw from different streams)."""
    return [simulate_rir(np.random.default_rng([seed, 29, stream, i]), sample_rate) for i in range(count)]
