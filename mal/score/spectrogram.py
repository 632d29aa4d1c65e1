"""Side-by-side log-magnitude spectrograms (noisy / systems / clean) as one PNG (matplotlib Agg)."""
from __future__ import annotations

import os
from typing import Sequence, Tuple, Union

import numpy as np
from scipy.signal import stft

from mal.io.atomic import atomic_path

PathLike = Union[str, os.PathLike]
DYNAMIC_RANGE_DB = 80.0


def log_spectrogram(wav: np.ndarray, sample_rate: int, frame_seconds: float = 0.032) -> np.ndarray:
    """|STFT| in dB, [freq, time] (Hann, 75 % overlap)."""
    nperseg = max(16, int(round(frame_seconds * sample_rate)))
    _, _, spec = stft(np.asarray(wav, dtype=np.float64), fs=sample_rate, nperseg=nperseg, noverlap=nperseg * 3 // 4)
    return 20.0 * np.log10(np.abs(spec) + 1e-8)


def plot_spectrograms(
    panels: Sequence[Tuple[str, np.ndarray, int]], out_png: PathLike, title: str = "", dpi: int = 72
) -> None:
    """Write ``out_png``: one spectrogram per ``(label, wav, sample_rate)`` panel, left to right,
    on a shared colour scale (the loudest panel's peak down to -80 dB)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not panels:
        raise ValueError(f"{out_png}: no audio to plot")
    specs = [log_spectrogram(wav, rate) for _, wav, rate in panels]
    vmax = max(float(s.max()) for s in specs)
    fig = Figure(figsize=(3.2 * len(panels), 2.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    image = None
    for ax, (label, wav, rate), spec in zip(axes, panels, specs):
        extent = (0.0, len(wav) / rate, 0.0, rate / 2000.0)
        image = ax.imshow(spec, origin="lower", aspect="auto", extent=extent, cmap="magma",
                          vmin=vmax - DYNAMIC_RANGE_DB, vmax=vmax)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (kHz)")
    fig.colorbar(image, ax=list(axes), label="dB", shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=11)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
