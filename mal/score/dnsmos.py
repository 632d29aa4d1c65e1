"""DNSMOS P.835 (SIG, BAK, OVRL) through the ONNX model that the ``speechmos`` wheel ships.

Follows Microsoft's ``dnsmos_local.py`` (as ``speechmos.dnsmos`` does): a clip shorter than
9.01 s is repeated (doubled) until it is at least that long, 9.01 s windows are taken every
second, each goes through the SIG/BAK/OVRL model, the raw outputs are mapped with the published
non-personalised polynomials and averaged over windows. Unlike ``speechmos`` this does not run
the P.808 model (only SIG/BAK/OVRL are reported), does not need librosa, and keeps one
single-threaded onnxruntime session per process. Nothing is downloaded.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np

SAMPLE_RATE = 16000
INPUT_SECONDS = 9.01
#: Non-personalised polynomial maps of the raw outputs (highest power first).
POLYNOMIALS = {
    "sig": np.poly1d([-0.08397278, 1.22083953, 0.0052439]),
    "bak": np.poly1d([-0.13166888, 1.60915514, -0.39604546]),
    "ovrl": np.poly1d([-0.06766283, 1.11546468, 0.04602535]),
}


class DnsmosUnavailable(RuntimeError):
    """The model file or onnxruntime is missing."""


def default_model_path() -> Path:
    """``speechmos/dnsmos_models/sig_bak_ovr.onnx`` inside the installed wheel."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise DnsmosUnavailable("DNSMOS needs the 'speechmos' package: pip install 'mal[dnsmos]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "dnsmos_models" / "sig_bak_ovr.onnx"
    if not path.is_file():
        raise DnsmosUnavailable(f"{path}: DNSMOS model not found in the speechmos package")
    return path


class Dnsmos:
    """One onnxruntime session of the SIG/BAK/OVRL model; call it on 16 kHz float audio."""

    def __init__(self, model_path: Optional[Union[str, os.PathLike]] = None, num_threads: int = 1):
        try:
            import onnxruntime as ort
        except ImportError:
            raise DnsmosUnavailable("DNSMOS needs onnxruntime: pip install 'mal[dnsmos]'") from None
        self.model_path = Path(model_path) if model_path else default_model_path()
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    @staticmethod
    def windows(audio: np.ndarray) -> np.ndarray:
        """The 9.01 s windows (1 s hop) of the repeated clip: [N, 144160] float32."""
        length = int(INPUT_SECONDS * SAMPLE_RATE)
        audio = np.asarray(audio, dtype=np.float32)
        if audio.size == 0:
            raise ValueError("empty audio")
        while len(audio) < length:
            audio = np.concatenate([audio, audio])
        hops = int(np.floor(len(audio) / SAMPLE_RATE) - INPUT_SECONDS) + 1
        starts = [i * SAMPLE_RATE for i in range(hops) if i * SAMPLE_RATE + length <= len(audio)]
        return np.stack([audio[s : s + length] for s in starts])

    def __call__(self, audio: np.ndarray) -> Dict[str, float]:
        """``{"sig", "bak", "ovrl"}`` MOS of a 16 kHz mono clip."""
        raw = np.stack([self.session.run(None, {self.input_name: w[None, :]})[0][0] for w in self.windows(audio)])
        return {name: float(np.mean(POLYNOMIALS[name](raw[:, i]))) for i, name in enumerate(("sig", "bak", "ovrl"))}


_SESSION: Optional[Dnsmos] = None


def get_dnsmos() -> Dnsmos:
    """The process-wide DNSMOS session, created on first use (single-threaded)."""
    global _SESSION
    if _SESSION is None:
        _SESSION = Dnsmos()
    return _SESSION


def dnsmos(audio: np.ndarray, sample_rate: int) -> Dict[str, float]:
    """SIG/BAK/OVRL of ``audio``; other rates are resampled to 16 kHz (soxr)."""
    if sample_rate != SAMPLE_RATE:
        from mal.io.audio import resample

        audio = resample(np.asarray(audio, dtype=np.float32), sample_rate, SAMPLE_RATE)
    return get_dnsmos()(audio)
