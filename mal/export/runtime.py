"""Run exported files: the offline ONNX form on whole signals, the streaming form (ONNX or
TorchScript) block by block (framing and overlap-add as TFMaskStreamer, the network exported)."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any, Dict, List, Union

import numpy as np
import torch

from mal.models.layers import conv_valid_length
from mal.models.tfmask import TFMaskStreamer

PathLike = Union[str, os.PathLike]


def open_session(path: Union[PathLike, bytes], num_threads: int = 1):
    """An onnxruntime CPU session on ``path`` (or the file's bytes) with ``num_threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def metadata(session) -> Dict[str, Any]:
    """The mal metadata an exported file carries (see mal.export.onnx_export)."""
    return {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}


class OnnxOffline:
    """The offline form: ``run(noisy [B, T] or [T])`` -> enhanced, same shape, as ``model(noisy)``.

    Around the graph it does what the file's metadata asks: zero padding to a valid length (and
    cutting back), dividing by the input scale and multiplying back. A graph exported for a
    fixed ``length`` runs on consecutive pieces of that length, the last one zero-padded.
    """

    def __init__(self, path: Union[PathLike, bytes], num_threads: int = 1):
        self.session = open_session(path, num_threads)
        meta = metadata(self.session)
        if meta.get("form") != "offline":
            raise ValueError(f"{path!s:.80}: not an offline mal export (form {meta.get('form')!r})")
        self.sample_rate, self.length = int(meta["sample_rate"]), int(meta["length"])
        self.valid_length = meta.get("valid_length")
        self.scale_floor = meta.get("scale_floor")
        self.input = self.session.get_inputs()[0].name

    def _call(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(x, dtype=np.float32)})[0]

    def _padded_call(self, x: np.ndarray) -> np.ndarray:
        """Any length: pad to a valid one, scale, run, undo both."""
        length = x.shape[1]
        scale = np.ones((x.shape[0], 1), np.float32)
        if self.scale_floor is not None:
            scale = (x.std(axis=1, ddof=1 if length > 1 else 0, keepdims=True, dtype=np.float64) + self.scale_floor).astype(np.float32)
        target = conv_valid_length(length, *self.valid_length) if self.valid_length else length
        return self._call(np.pad(x / scale, ((0, 0), (0, target - length))))[:, :length] * scale

    def run(self, noisy: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(noisy, dtype=np.float32))
        if not self.length:
            out = self._padded_call(x)
        else:
            pieces = []
            for start in range(0, x.shape[1], self.length):
                piece = x[:, start : start + self.length]
                pad = self.length - piece.shape[1]
                pieces.append(self._call(np.pad(piece, ((0, 0), (0, pad))))[:, : self.length - pad])
            out = np.concatenate(pieces, axis=1) if pieces else np.zeros_like(x)
        return out.reshape(np.shape(noisy))


class ExportedStreamer(TFMaskStreamer):
    """A TFMaskStreamer whose network step is an exported streaming form (framing from metadata)."""

    def __init__(self, meta: Dict[str, Any], where: str):
        if meta.get("form") != "streaming":
            raise ValueError(f"{where:.80}: not a streaming mal export (form {meta.get('form')!r})")
        n_fft = int(meta["n_fft"])
        window = torch.hann_window(n_fft, periodic=True)
        window = window.sqrt() if meta["window"] == "sqrt_hann" else window
        super().__init__(SimpleNamespace(n_fft=n_fft, hop_length=int(meta["hop_length"]), window=window))
        self.sample_rate = int(meta["sample_rate"])
        self.step_state = [np.zeros(s, np.float32) for s in meta["state_shapes"]]

    def run(self, wav: np.ndarray, block: int) -> np.ndarray:
        """Feed ``wav`` [T] in blocks of ``block`` samples, then flush: the whole output."""
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        outs = [self.feed(x[i : i + block]) for i in range(0, len(x), block)] + [self.flush()]
        return torch.cat(outs).numpy()


class OnnxStreamer(ExportedStreamer):
    """The streaming form (``.stream.onnx``) with its network step in onnxruntime."""

    def __init__(self, path: Union[PathLike, bytes], num_threads: int = 1):
        self.session = open_session(path, num_threads)
        super().__init__(metadata(self.session), str(path))
        self.names = [i.name for i in self.session.get_inputs()]

    def enhance_frames(self, frames: torch.Tensor) -> torch.Tensor:
        feed = dict(zip(self.names, [frames.numpy().astype(np.float32), *self.step_state]))
        out, *self.step_state = self.session.run(None, feed)
        return torch.from_numpy(out)


class TorchScriptStreamer(ExportedStreamer):
    """The streaming form as TorchScript (``.stream.ts.pt``)."""

    def __init__(self, path: PathLike):
        extra = {"mal.json": ""}
        self.module = torch.jit.load(str(path), _extra_files=extra)
        super().__init__(json.loads(extra["mal.json"]), str(path))
        self.step_state = [torch.from_numpy(s) for s in self.step_state]

    @torch.no_grad()
    def enhance_frames(self, frames: torch.Tensor) -> torch.Tensor:
        out, *self.step_state = self.module(frames.float(), *self.step_state)
        return out

