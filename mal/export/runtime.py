"""Run exported files: the offline ONNX form on whole signals, the streaming form (ONNX or
TorchScript) block by block: the PyTorch streamer's bookkeeping (framing, buffers, overlap-add)
around the exported network steps.

Level normalisation, as mal-enhance: the graphs hold the network only, so the runners scale
each signal to ``norm_rms`` RMS (default 0.05, the files' ``norm_rms`` metadata) before the
graph and divide the output by the same gain (``norm_rms=None`` or 0: the raw graph, as
``model(x)``). Another runtime must do the same to get mal-enhance's output.
"""
from __future__ import annotations

import json
import os
import zipfile
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch

from mal.enhance.chunked import DEFAULT_NORM_RMS, with_file_scale
from mal.models.layers import conv_valid_length
from mal.models.demucs import DemucsStreamer
from mal.models.tfmask import TFMaskStreamer

PathLike = Union[str, os.PathLike]


def open_session(path: Union[PathLike, bytes], num_threads: int = 1):
    """An onnxruntime CPU session on ``path`` (or the file's bytes) with ``num_threads`` intra-op threads."""
    from mal.export.onnx_export import require_export_extra

    require_export_extra()
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


def export_names(stem: str) -> List[str]:
    """The files mal-export may write for ``stem``."""
    return [f"{stem}.onnx", f"{stem}.ts.pt", f"{stem}.stream.onnx", f"{stem}.stream.ts.pt"]


def export_info(path: PathLike) -> Dict[str, Any]:
    """The mal metadata of an exported ``.onnx`` or TorchScript ``.pt`` file without running it
    (``model_sha256``, ``mal_version``, ``form``, ...; {} for a file without any)."""
    if str(path).endswith(".onnx"):
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        return {p.key: json.loads(p.value) for p in proto.metadata_props}
    with zipfile.ZipFile(path) as archive:  # torch.jit.save: <name>/extra/mal.json
        member = next((n for n in archive.namelist() if n.endswith("/extra/mal.json")), None)
        return json.loads(archive.read(member)) if member else {}


def _scaled(run, x: np.ndarray, norm_rms: Optional[float]) -> np.ndarray:
    """``run`` on each row of ``x`` [B, T] scaled to ``norm_rms`` RMS, the output scaled back."""
    if not norm_rms:
        return run(x)
    return np.stack([with_file_scale(lambda row: run(row[None])[0], row, norm_rms) for row in x])


class OnnxOffline:
    """The offline form: ``run(noisy [B, T] or [T])`` -> enhanced, same shape, as mal-enhance
    (each row scaled to ``norm_rms`` RMS and back; ``norm_rms=None``: as ``model(noisy)``).

    Around the graph it does what the file's metadata asks: zero padding to a valid length (and
    cutting back), dividing by the input scale and multiplying back. A graph exported for a
    fixed ``length`` runs on consecutive pieces of that length, the last one zero-padded.
    """

    def __init__(self, path: Union[PathLike, bytes], num_threads: int = 1, norm_rms: Optional[float] = DEFAULT_NORM_RMS):
        self.norm_rms = norm_rms
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

    def _graph(self, x: np.ndarray) -> np.ndarray:
        if not self.length:
            return self._padded_call(x)
        pieces = []
        for start in range(0, x.shape[1], self.length):
            piece = x[:, start : start + self.length]
            pad = self.length - piece.shape[1]
            pieces.append(self._call(np.pad(piece, ((0, 0), (0, pad))))[:, : self.length - pad])
        return np.concatenate(pieces, axis=1) if pieces else np.zeros_like(x)

    def run(self, noisy: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(noisy, dtype=np.float32))
        return _scaled(self._graph, x, self.norm_rms).reshape(np.shape(noisy))


class OnnxSteps:
    """The exported network steps in onnxruntime: ``steps(feed, wanted) -> [outputs]``."""

    def __init__(self, path: Union[PathLike, bytes], num_threads: int = 1):
        self.session = open_session(path, num_threads)
        self.meta = metadata(self.session)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, feed: Dict[str, np.ndarray], wanted: List[str]) -> List[np.ndarray]:
        return self.session.run(wanted, feed)


class TorchScriptSteps:
    """The same steps from a TorchScript file (``.stream.ts.pt``)."""

    def __init__(self, path: PathLike):
        extra = {"mal.json": ""}
        self.module = torch.jit.load(str(path), _extra_files=extra)
        self.meta = json.loads(extra["mal.json"])
        self.inputs, self.outputs = self.meta["inputs"], self.meta["outputs"]

    @torch.no_grad()
    def __call__(self, feed: Dict[str, np.ndarray], wanted: List[str]) -> List[np.ndarray]:
        outs = self.module(*[torch.from_numpy(np.ascontiguousarray(feed[n], dtype=np.float32)) for n in self.inputs])
        return [outs[self.outputs.index(w)].numpy() for w in wanted]


Steps = Union[OnnxSteps, TorchScriptSteps]


def run_stream(streamer: Any, wav: np.ndarray, block: int, norm_rms: Optional[float] = DEFAULT_NORM_RMS) -> np.ndarray:
    """Feed ``wav`` [T] to a streamer in blocks of ``block`` samples, then flush: the whole output.
    The gain to ``norm_rms`` comes from the whole of ``wav``, as ``mal-enhance --streaming``."""

    def stream(signal: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32))
        outs = [streamer.feed(x[i : i + block]) for i in range(0, len(x), block)] + [streamer.flush()]
        return torch.cat(outs).numpy()

    return with_file_scale(stream, np.asarray(wav, dtype=np.float32), norm_rms) if norm_rms else stream(wav)


class ExportedTFMaskStreamer(TFMaskStreamer):
    """A TFMaskStreamer whose network step is the exported one (framing from the metadata)."""

    def __init__(self, steps: Steps):
        meta = steps.meta
        n_fft = int(meta["n_fft"])
        window = torch.hann_window(n_fft, periodic=True)
        window = window.sqrt() if meta["window"] == "sqrt_hann" else window
        super().__init__(SimpleNamespace(n_fft=n_fft, hop_length=int(meta["hop_length"]), window=window))
        self.steps, self.sample_rate = steps, int(meta["sample_rate"])
        self.step_state = [np.zeros(s, np.float32) for s in meta["state_shapes"]]
        self.wanted = ["out_frames"] + [f"state{i}_out" for i in range(len(self.step_state))]

    def enhance_frames(self, frames: torch.Tensor) -> torch.Tensor:
        feed = dict(zip(self.steps.inputs, [frames.numpy().astype(np.float32), *self.step_state]))
        out, *self.step_state = self.steps(feed, self.wanted)
        return torch.from_numpy(out)

    def run(self, wav: np.ndarray, block: int, norm_rms: Optional[float] = DEFAULT_NORM_RMS) -> np.ndarray:
        """The whole of ``wav`` in blocks, scaled as mal-enhance (``norm_rms=None``: raw)."""
        return run_stream(self, wav, block, norm_rms)


class ExportedDemucsStreamer(DemucsStreamer):
    """A DemucsStreamer whose network steps are the exported ones (one step per call, the inputs
    of the other steps fed as small zero tensors)."""

    def __init__(self, steps: Steps):
        meta = steps.meta
        self.steps, self.sample_rate = steps, int(meta["sample_rate"])
        depth, kernel, stride = int(meta["depth"]), int(meta["kernel_size"]), int(meta["stride"])
        self.model = SimpleNamespace(depth=depth, kernel_size=kernel, stride=stride, floor=float(meta["floor"]),
                                     normalize=bool(meta["normalize"]), skips=bool(meta["skips"]),
                                     valid_length=lambda n: conv_valid_length(n, depth, kernel, stride))
        self._start(meta["widths"], meta["decoder_outs"], torch.zeros(0))
        self.biases = [torch.tensor(b, dtype=torch.float32).view(1, -1, 1) for b in meta["biases"]]
        self.relu = list(meta["relu"])
        self.lstm_state = [np.zeros(meta["state_shape"], np.float32) for _ in range(2)]
        widths = meta["widths"]
        zeros = [np.zeros((1, c, kernel), np.float32) for c in [1] + widths[:-1]]
        zeros += [np.zeros((1, widths[-1], 1), np.float32), *self.lstm_state]
        zeros += [np.zeros((1, c, 1), np.float32) for c in meta["decoder_ins"]]
        self.idle = dict(zip(steps.inputs, zeros))

    def _step(self, name: str, x: torch.Tensor, **more: np.ndarray) -> List[np.ndarray]:
        feed = dict(self.idle, **{name: x.numpy().astype(np.float32)}, **more)
        return self.steps(feed, [name + "_out", *[k + "_out" for k in more]])

    def encode_level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._step(f"enc{level}", x)[0])

    def recurrent(self, x: torch.Tensor) -> torch.Tensor:
        y, *self.lstm_state = self._step("lstm", x, h=self.lstm_state[0], c=self.lstm_state[1])
        return torch.from_numpy(y)

    def upsample(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._step(f"dec{index}", x)[0])

    def release(self, index: int, y: torch.Tensor) -> torch.Tensor:
        y = y + self.biases[index]
        return torch.relu(y) if self.relu[index] else y

    def run(self, wav: np.ndarray, block: int, norm_rms: Optional[float] = DEFAULT_NORM_RMS) -> np.ndarray:
        """The whole of ``wav`` in blocks, scaled as mal-enhance (``norm_rms=None``: raw)."""
        return run_stream(self, wav, block, norm_rms)


def exported_streamer(path: Union[PathLike, bytes], num_threads: int = 1) -> Union[ExportedTFMaskStreamer, ExportedDemucsStreamer]:
    """A fresh streamer on an exported streaming form: ``.stream.onnx`` (or its bytes) or ``.stream.ts.pt``."""
    onnx = isinstance(path, bytes) or str(path).endswith(".onnx")
    steps: Steps = OnnxSteps(path, num_threads) if onnx else TorchScriptSteps(path)
    form, kind = steps.meta.get("form"), steps.meta.get("kind")
    if form != "streaming":
        raise ValueError(f"{str(path):.80}: not a streaming mal export (form {form!r})")
    classes = {"tfmask": ExportedTFMaskStreamer, "demucs": ExportedDemucsStreamer}
    if kind not in classes:
        raise ValueError(f"{str(path):.80}: unknown streaming kind {kind!r}")
    return classes[kind](steps)
