#!/usr/bin/env python
"""Streaming CPU RTF of the default shipped model's streamer at a git revision (``--before``,
default HEAD) against the working tree, in ONE process on one thread, the cases interleaved
round by round, so that a shared machine's load reaches both alike.

    python bench/stream_ab.py [--before HEAD] [--blocks 256,512] [--seconds 10] [--repeats 5]

"Before" is the streaming code of ``mal/models/tfmask.py``, ``mal/models/layers.py`` and
``mal/api.py`` as of that revision, loaded beside the current modules and run on the same
weights (the model's classes swapped for the revision's). Columns: the PyTorch streamer
(``stream_blocks``), the same through ``mal.load().stream()``, and the largest |before - after|
difference of the streamed outputs. Prints a Markdown table and the load average.
"""
from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import types
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from enhance_speed import interleaved_cpu, test_signal  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module_at(rev: str, path: str, name: str, replace: Dict[str, str]) -> types.ModuleType:
    """``path`` as of ``rev`` as a module called ``name`` (its imports rewritten by ``replace``)."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, check=True, capture_output=True, text=True).stdout
    for old, new in replace.items():
        source = source.replace(old, new)
    module = types.ModuleType(name)
    module.__file__ = f"{rev}:{path}"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def model_at(model: torch.nn.Module, modules: List[types.ModuleType]) -> torch.nn.Module:
    """A copy of ``model`` (same weights) whose classes are the ones of the same name in ``modules``."""
    old = copy.deepcopy(model)
    for sub in old.modules():
        for module in modules:
            cls = getattr(module, type(sub).__name__, None)
            if isinstance(cls, type) and cls.__module__ == module.__name__:
                sub.__class__ = cls
                break
    return old


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", default="HEAD", help="git revision of the 'before' streamer")
    p.add_argument("--blocks", default="256,512", help="block sizes (samples)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--model", help="a path or shipped name (default: the default shipped model)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    import mal
    from mal.enhance.streaming import stream_blocks

    layers = module_at(args.before, "mal/models/layers.py", "before_layers", {})
    tfmask = module_at(args.before, "mal/models/tfmask.py", "before_tfmask", {"mal.models.layers": "before_layers"})
    api_old = module_at(args.before, "mal/api.py", "before_api", {})
    api = mal.load(args.model, device="cpu", norm_rms=None)
    model, rate = api.network, api.sample_rate
    old_model = model_at(model, [tfmask, layers])
    old_enhancer = copy.copy(api.enhancer)
    old_enhancer.model = old_model
    old_api = api_old.Model(old_enhancer)
    wav = test_signal(args.seconds)
    seconds = len(wav) / rate
    blocks = [int(b) for b in args.blocks.split(",") if b]

    def through(stream_api, block: int) -> np.ndarray:
        stream = stream_api.stream(rate)
        out = [stream.feed(wav[i : i + block]) for i in range(0, len(wav), block)]
        return np.concatenate(out + [stream.flush()])

    cases: Dict[str, Callable[[], object]] = {}
    for block in blocks:
        cases[f"torch before {block}"] = lambda b=block: stream_blocks(old_model, wav, b, torch.device("cpu"))
        cases[f"torch after {block}"] = lambda b=block: stream_blocks(model, wav, b, torch.device("cpu"))
        cases[f"api before {block}"] = lambda b=block: through(old_api, b)
        cases[f"api after {block}"] = lambda b=block: through(api, b)
    load_before = os.getloadavg()
    rtf = {name: t / seconds for name, t in interleaved_cpu(cases, args.repeats).items()}
    load_after = os.getloadavg()
    print(f"Streaming CPU RTF, {args.model or 'default shipped model'}, {args.before} ({tfmask.__file__}) vs working tree, "
          f"1 thread, {seconds:g} s, best of {args.repeats} interleaved rounds; load average {load_before[0]:.2f} "
          f"before, {load_after[0]:.2f} after")
    print()
    print("| block | PyTorch before | PyTorch after | after / before | API before | API after | after / before | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for block in blocks:
        diff = float(np.max(np.abs(cases[f"torch before {block}"]() - cases[f"torch after {block}"]())))
        tb, ta, ab, aa = (rtf[f"{k} {block}"] for k in ("torch before", "torch after", "api before", "api after"))
        print(f"| {block} ({1000 * block / rate:g} ms) | {tb:.4f} | {ta:.4f} | {ta / tb:.2f} | {ab:.4f} | {aa:.4f} | {aa / ab:.2f} "
              f"| {diff:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
