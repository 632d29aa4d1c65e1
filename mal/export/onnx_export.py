"""Write a model's offline or streaming form as an ONNX file (and TorchScript where it works).

Every file is checked right after writing: onnxruntime (or torch.jit.load) runs it on random
input and its output must match PyTorch's within ``tolerance``; a file that does not is
removed and the export fails. The ONNX metadata records what a runtime needs: ``form``,
``sample_rate``, for the offline form ``length`` (samples per call; 0: any valid length),
``valid_length`` and ``scale_floor`` (mal.export.graphs.offline_contract), and for the
streaming form ``n_fft``, ``hop_length``, ``window`` and the state shapes. Every file (ONNX
metadata_props; TorchScript's ``mal.json`` extra file) also records ``model_sha256`` and
``mal_version`` (which model and which mal wrote it: :func:`provenance`) and ``norm_rms``, the
file level mal-enhance scales a signal to before the network and back after (the graphs do
not: mal.export.runtime does it, as mal-enhance).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch

import mal
from mal.enhance.chunked import DEFAULT_NORM_RMS
from mal.export.graphs import ExportError, offline_contract, offline_graph, streaming_graph
from mal.models.abs_model import AbsSEModel

PathLike = Union[str, os.PathLike]
FORMS = ("offline", "streaming")
OPSET = 17
TOLERANCE = 1e-4
#: The one line a missing ``export`` extra gives (instead of a ModuleNotFoundError traceback).
MISSING_EXTRA = "mal-export and its runtime need the 'export' extra (onnx, onnxruntime): pip install 'mal[export]'"


def require_export_extra() -> None:
    """ExportError (one line naming the extra) unless onnx and onnxruntime import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ExportError(f"{MISSING_EXTRA} ({e})") from None


def provenance(model_path: PathLike) -> Dict[str, object]:
    """What every exported file records of its origin: the model file's sha256, mal's version and
    mal-enhance's default level normalisation (``norm_rms``)."""
    digest = hashlib.sha256()
    with open(model_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"model_sha256": digest.hexdigest(), "mal_version": mal.__version__, "norm_rms": DEFAULT_NORM_RMS}


def _export(module: torch.nn.Module, args: Tuple[torch.Tensor, ...], names: List[str], outputs: List[str],
            dynamic: Dict[str, Dict[int, str]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python values; the check below decides
        torch.onnx.export(module, args, buffer, dynamo=False, input_names=names, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=OPSET)
    return buffer.getvalue()


def _session(data: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _max_error(session, module: torch.nn.Module, args: Tuple[torch.Tensor, ...]) -> float:
    feed = {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)}
    got = session.run(None, feed)
    with torch.no_grad():
        want = module(*args)
    want = want if isinstance(want, tuple) else (want,)
    return max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want))


def _with_metadata(data: bytes, meta: Dict[str, object]) -> bytes:
    import onnx

    proto = onnx.load_from_string(data)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    return proto.SerializeToString()


def export_offline_onnx(model: AbsSEModel, length: int, tolerance: float = TOLERANCE,
                        extra: Optional[Dict[str, object]] = None) -> Tuple[bytes, int]:
    """ONNX bytes of the offline form, and the samples per call (0 when any length works);
    ``extra`` goes into its metadata too (e.g. :func:`provenance`)."""
    graph = offline_graph(model).eval()
    generator = torch.Generator().manual_seed(0)
    example = (0.05 * torch.randn(2, length, generator=generator),)
    dynamic = {"noisy": {0: "batch", 1: "time"}, "enhanced": {0: "batch", 1: "time"}}
    data = _export(graph, example, ["noisy"], ["enhanced"], dynamic)
    other = (0.05 * torch.randn(1, model.valid_length(length + 1013), generator=generator),)
    try:
        dynamic_ok = _max_error(_session(data), graph, other) <= tolerance
    except Exception:  # onnxruntime refuses the other length: sizes were traced as constants
        dynamic_ok = False
    if not dynamic_ok:  # fix the length
        del dynamic["noisy"][1], dynamic["enhanced"][1]
        data = _export(graph, example, ["noisy"], ["enhanced"], dynamic)
        fixed = length
    else:
        fixed = 0
    error = _max_error(_session(data), graph, example)
    if error > tolerance:
        raise ExportError(f"{type(model).__name__}: ONNX output differs from PyTorch by {error:.3g} (> {tolerance})")
    meta = {"form": "offline", "sample_rate": int(model.sample_rate), "length": fixed, **offline_contract(model), **(extra or {})}
    return _with_metadata(data, meta), fixed


def export_streaming_onnx(model: AbsSEModel, tolerance: float = TOLERANCE, extra: Optional[Dict[str, object]] = None) -> bytes:
    """ONNX bytes of the streaming form (mal.export.graphs: TFMaskFrameStep, DemucsStreamSteps)."""
    step = streaming_graph(model).eval()
    inputs, outputs, dynamic = step.names()
    data = _export(step, step.example(3, seed=0), inputs, outputs, dynamic)
    session = _session(data)
    error = max(_max_error(session, step, step.example(count, seed=count)) for count in (1, 2))
    if error > tolerance:
        raise ExportError(f"{type(model).__name__}: streaming ONNX output differs from PyTorch by {error:.3g} (> {tolerance})")
    return _with_metadata(data, {**streaming_metadata(model, step), **(extra or {})})


def streaming_metadata(model: AbsSEModel, step: torch.nn.Module) -> Dict[str, object]:
    """The streaming form's metadata: ``form``, ``sample_rate`` and what its step class records."""
    inputs, outputs, _ = step.names()
    return {"form": "streaming", "sample_rate": int(model.sample_rate), "inputs": inputs, "outputs": outputs, **step.metadata()}


def _traced_error(traced, graph: torch.nn.Module, example: torch.Tensor) -> float:
    try:
        return float((traced(example) - graph(example)).abs().max())
    except RuntimeError:  # a shape the trace fixed
        return float("inf")


def export_torchscript(model: AbsSEModel, length: int, tolerance: float = TOLERANCE,
                       extra: Optional[Dict[str, object]] = None) -> Tuple[bytes, int]:
    """TorchScript (traced) of the offline form, and its samples per call (0: any length)."""
    graph = offline_graph(model).eval()
    generator = torch.Generator().manual_seed(1)
    example = 0.05 * torch.randn(2, length, generator=generator)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, (example,), check_trace=False)
        error = _traced_error(traced, graph, example)
        other = 0.05 * torch.randn(1, model.valid_length(length + 1013), generator=generator)
        fixed = 0 if _traced_error(traced, graph, other) <= tolerance else length
    if error > tolerance:
        raise ExportError(f"{type(model).__name__}: TorchScript output differs from PyTorch by {error:.3g} (> {tolerance})")
    buffer = io.BytesIO()
    meta = {"form": "offline", "sample_rate": int(model.sample_rate), "length": fixed, **offline_contract(model), **(extra or {})}
    torch.jit.save(traced, buffer, _extra_files={"mal.json": json.dumps(meta)})
    return buffer.getvalue(), fixed


def export_streaming_torchscript(model: AbsSEModel, tolerance: float = TOLERANCE,
                                 extra: Optional[Dict[str, object]] = None) -> bytes:
    """TorchScript (traced) of the streaming form, with the same inputs and outputs as the ONNX one."""
    step = streaming_graph(model).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(step, step.example(3, seed=0), check_trace=False)
        error = 0.0
        for count in (1, 2):
            args = step.example(count, seed=count)
            error = max(error, max(float((a - b).abs().max()) for a, b in zip(traced(*args), step(*args))))
    if error > tolerance:
        raise ExportError(f"{type(model).__name__}: streaming TorchScript differs from PyTorch by {error:.3g} (> {tolerance})")
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer, _extra_files={"mal.json": json.dumps({**streaming_metadata(model, step), **(extra or {})})})
    return buffer.getvalue()


def write_bytes(path: PathLike, data: bytes) -> Path:
    from mal.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
