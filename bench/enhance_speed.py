#!/usr/bin/env python
"""Real-time factor of enhancement on ONE CPU thread, offline and streaming where supported,
in PyTorch and, exported with mal-export, in onnxruntime.

    python bench/enhance_speed.py [--seconds 10] [--config conf/x.yaml ...] [--repeats 3] [--peers rnnoise,dfn3]

Benchmarks every registered model with its default configuration, the causal variant of
models that can stream, the ``model:`` section of each ``--config`` training YAML, and the
external enhancers named by ``--peers`` (mal.enhance.peers, built with one thread; their
``enhance`` call on the whole signal, offline column only; ``--models ""`` skips the models).
RTF = processing time / audio duration (best of ``--repeats``), as wall-clock time and as
this process's CPU time: with one thread, CPU time is what the wall time would be on an idle
core, so it stays meaningful on a machine shared with other jobs (the wall RTF then grows).
Offline uses the mal-enhance defaults (10 s chunks, 1 s overlap), streaming feeds 16 ms blocks.
The ONNX columns run the exported offline graph on the whole signal and the streaming form
(causal TFMaskNet, BandGainGRU and DEMUCS) with the same blocks; "-" where a form does not exist or onnxruntime is
not installed (``pip install 'mal[export]'``).
Prints a Markdown table; the default model's offline CPU RTF is checked against ``--target``.
Then, for the model ``--block-model`` names (default: mal's default shipped model), a table of
streaming block sizes (``--blocks``, samples at the model rate) x {PyTorch streamer, the same
through ``mal.load().stream()``, onnxruntime's streaming form} against its offline RTF, all
CPU RTF measured in this one process, the cases interleaved round by round (``--blocks ""``
skips it).
"""
from __future__ import annotations

import argparse
import inspect
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import yaml

from mal.enhance.chunked import enhance_chunked
from mal.enhance.peers import build_peer, peer_names
from mal.enhance.streaming import DEFAULT_BLOCK_SECONDS, enhance_streaming
from mal.models import MODEL_REGISTRY, build_model, model_class


@dataclass
class Row:
    label: str
    params: int
    offline_rtf: float
    offline_cpu_rtf: float
    streaming_rtf: Optional[float]
    streaming_cpu_rtf: Optional[float]
    is_default: bool
    onnx_offline_cpu_rtf: Optional[float] = None
    onnx_streaming_cpu_rtf: Optional[float] = None


def best_time(fn: Callable[[], object], repeats: int) -> Tuple[float, float]:
    """Best (wall, CPU) seconds of ``repeats`` runs after one warm-up run."""
    fn()  # warm-up (allocations, lazy init)
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def bench_model(label: str, name: str, conf: dict, wav: np.ndarray, repeats: int, is_default: bool) -> Row:
    torch.manual_seed(0)
    model = build_model(name, **conf).eval()
    seconds = len(wav) / model.sample_rate
    offline = [t / seconds for t in best_time(lambda: enhance_chunked(model, wav), repeats)]
    streaming = [None, None]
    if model.causal and getattr(model, "supports_streaming", False):
        streaming = [t / seconds for t in best_time(lambda: enhance_streaming(model, wav), repeats)]
    params = sum(p.numel() for p in model.parameters())
    onnx = onnx_rtfs(model, wav, repeats)
    return Row(label, params, offline[0], offline[1], streaming[0], streaming[1], is_default, *onnx)


def bench_peer(name: str, wav: np.ndarray, repeats: int, rate: int = 16000) -> Row:
    peer = build_peer(name, num_threads=1)
    seconds = len(wav) / rate
    wall, cpu = (t / seconds for t in best_time(lambda: peer.enhance(wav, rate), repeats))
    return Row(f"peer {name}", peer.num_parameters or 0, wall, cpu, None, None, False)


def onnx_rtfs(model: torch.nn.Module, wav: np.ndarray, repeats: int) -> Tuple[Optional[float], Optional[float]]:
    """CPU RTF of the exported offline and streaming forms in onnxruntime (None where absent)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None, None
    from mal.export.graphs import UnsupportedForm
    from mal.export.onnx_export import export_offline_onnx, export_streaming_onnx
    from mal.export.runtime import OnnxOffline, exported_streamer

    seconds = len(wav) / model.sample_rate
    data, _ = export_offline_onnx(model, model.valid_length(len(wav)))
    offline = OnnxOffline(data)
    offline_rtf = best_time(lambda: offline.run(wav), repeats)[1] / seconds
    try:
        stream_data = export_streaming_onnx(model)
    except UnsupportedForm:
        return offline_rtf, None
    block = int(round(DEFAULT_BLOCK_SECONDS * model.sample_rate))
    streaming_rtf = best_time(lambda: exported_streamer(stream_data).run(wav, block), repeats)[1] / seconds
    return offline_rtf, streaming_rtf


def has_causal_option(name: str) -> bool:
    return "causal" in inspect.signature(model_class(name).__init__).parameters


def test_signal(seconds: float, rate: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    speech = 0.1 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (speech + 0.03 * rng.standard_normal(len(t))).astype(np.float32)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="audio length")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per case (best is reported)")
    p.add_argument("--config", action="append", default=[], help="training YAML; its model: {name, conf} is benchmarked")
    p.add_argument("--models", help="comma-separated registry names (default: all; \"\" for none)")
    p.add_argument("--peers", default="", help="comma-separated peer names (mal.enhance.peers) to time as well")
    p.add_argument("--default-model", default="tfmask", help="the model whose offline RTF must meet --target")
    p.add_argument("--target", type=float, default=0.02, help="RTF target for the default model")
    p.add_argument("--blocks", default="64,128,256,512,1024", help="block sizes (samples) of the streaming table; \"\" skips it")
    p.add_argument("--block-model", help="model of the streaming table: a path or shipped name (default: the default shipped model)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    torch.set_num_threads(1)
    wav = test_signal(args.seconds)
    names = [n for n in args.models.split(",") if n] if args.models is not None else sorted(MODEL_REGISTRY)
    peers = [n for n in args.peers.split(",") if n]
    unknown = [n for n in peers if n not in peer_names()]
    if unknown:
        print(f"--peers: unknown peer(s) {', '.join(unknown)}; choose from {', '.join(peer_names())}", file=sys.stderr)
        return 2
    rows: List[Row] = []
    for name in names:
        rows.append(bench_model(name, name, {}, wav, args.repeats, name == args.default_model))
        if has_causal_option(name):
            rows.append(bench_model(f"{name} (causal)", name, {"causal": True}, wav, args.repeats, False))
    for path in args.config:
        with open(path, encoding="utf-8") as f:
            model = (yaml.safe_load(f) or {}).get("model") or {}
        if "name" not in model:
            print(f"{path}: no model: {{name: ...}} section", file=sys.stderr)
            return 1
        rows.append(bench_model(f"{model['name']} ({path})", model["name"], model.get("conf") or {}, wav, args.repeats, False))
    for name in peers:
        rows.append(bench_peer(name, wav, args.repeats))

    print(f"Enhancement speed, 1 CPU thread, {args.seconds:g} s of 16 kHz audio, best of {args.repeats}")
    print()
    print("| model | params | offline RTF (CPU) | offline RTF (wall) | streaming RTF (CPU) | streaming RTF (wall) "
          "| ONNX offline RTF (CPU) | ONNX streaming RTF (CPU) | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    ok = True
    for r in rows:
        def fmt(v: Optional[float]) -> str:
            return f"{v:.4f}" if v is not None else "-"

        target = "-"
        if r.is_default:
            met = r.offline_cpu_rtf <= args.target
            ok &= met
            target = f"<= {args.target:g}: {'met' if met else 'MISSED'}"
        print(
            f"| {r.label} | {r.params / 1e6:.3f} M | {fmt(r.offline_cpu_rtf)} | {fmt(r.offline_rtf)} "
            f"| {fmt(r.streaming_cpu_rtf)} | {fmt(r.streaming_rtf)} | {fmt(r.onnx_offline_cpu_rtf)} "
            f"| {fmt(r.onnx_streaming_cpu_rtf)} | {target} |"
        )
    blocks = [int(b) for b in args.blocks.split(",") if b]
    if blocks:
        print()
        block_table(args.block_model, wav, blocks, args.repeats)
    return 0 if ok else 1


def interleaved_cpu(cases: Dict[str, Callable[[], object]], repeats: int) -> Dict[str, float]:
    """Best CPU seconds of each case over ``repeats`` rounds, every case once per round (after
    a warm-up round), so that a change in the machine's load reaches all of them alike."""
    best = {name: float("inf") for name in cases}
    for round_ in range(repeats + 1):
        for name, fn in cases.items():
            cpu = time.process_time()
            fn()
            if round_:
                best[name] = min(best[name], time.process_time() - cpu)
    return best


def block_table(model_name: Optional[str], wav: np.ndarray, blocks: List[int], repeats: int) -> None:
    """Streaming CPU RTF per block size: PyTorch streamer, mal.load().stream(), ONNX, vs offline."""
    import mal
    from mal.enhance.streaming import stream_blocks

    api = mal.load(model_name, device="cpu", norm_rms=None)
    model, rate = api.network, api.sample_rate
    seconds = len(wav) / rate

    def through_api(block: int) -> None:
        stream = api.stream(rate)
        for i in range(0, len(wav), block):
            stream.feed(wav[i : i + block])
        stream.flush()

    cases: Dict[str, Callable[[], object]] = {"offline": lambda: enhance_chunked(model, wav, norm_rms=None)}
    for block in blocks:
        cases[f"torch {block}"] = lambda b=block: stream_blocks(model, wav, b, torch.device("cpu"))
        cases[f"api {block}"] = lambda b=block: through_api(b)
    onnx = streaming_onnx_of(model)
    if onnx is not None:
        from mal.export.runtime import exported_streamer

        for block in blocks:
            cases[f"onnx {block}"] = lambda b=block: exported_streamer(onnx).run(wav, b, norm_rms=None)
    rtf = {name: t / seconds for name, t in interleaved_cpu(cases, repeats).items()}
    label = model_name or "default shipped model"
    print(f"Streaming block sizes, {label} ({type(model).__name__}, {sum(p.numel() for p in model.parameters()) / 1e6:.3f} M), "
          f"1 CPU thread, {seconds:g} s, CPU RTF, best of {repeats} interleaved rounds; offline RTF {rtf['offline']:.4f}")
    print()
    print("| block | PyTorch streaming | via mal.load().stream() | ONNX streaming | PyTorch streaming / offline |")
    print("|---|---:|---:|---:|---:|")
    for block in blocks:
        onnx_rtf = f"{rtf[f'onnx {block}']:.4f}" if f"onnx {block}" in rtf else "-"
        print(f"| {block} ({1000 * block / rate:g} ms) | {rtf[f'torch {block}']:.4f} | {rtf[f'api {block}']:.4f} | {onnx_rtf} "
              f"| {rtf[f'torch {block}'] / rtf['offline']:.2f} |")


def streaming_onnx_of(model: torch.nn.Module) -> Optional[bytes]:
    """The model's streaming ONNX form (None without onnxruntime or without such a form)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    from mal.export.graphs import UnsupportedForm
    from mal.export.onnx_export import export_streaming_onnx

    try:
        return export_streaming_onnx(model)
    except UnsupportedForm:
        return None


if __name__ == "__main__":
    sys.exit(main())
