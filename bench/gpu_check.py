#!/usr/bin/env python
"""The Python side of bench/gpu_check.sh: checks that need a CUDA device.

    python bench/gpu_check.py data DIR            synthetic train/valid/test data dirs under DIR
    python bench/gpu_check.py rnn-dtype           recurrent layers under bf16/fp16 autocast
    python bench/gpu_check.py run-ok EXP          EXP/log.csv: finite losses, no bad step
    python bench/gpu_check.py same-weights A B    two model.pth files hold identical weights
    python bench/gpu_check.py same-audio A B      two wav.scp files' audio agree (SNR >= --min-snr)
    python bench/gpu_check.py throughput CONFIG   train and enhance speed of CONFIG's model on the GPU

Each command prints what it found and exits 1 when its check fails.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import soundfile as sf
import torch
from torch import nn

SR = 16000


def _speech(seconds: float, f0: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 3) * t))) / SR
    wav = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 5) * t)) ** 2
    wav = wav * envelope
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


def make_data(root: Path) -> int:
    """train (32), valid (4) and test (4) dirs of harmonic "speech" in white noise at 0-10 dB SNR."""
    rng = np.random.default_rng(0)
    for name, count in (("train", 32), ("valid", 4), ("test", 4)):
        d = root / name
        (d / "wav").mkdir(parents=True, exist_ok=True)
        rows: Dict[str, List[str]] = {"wav.scp": [], "spk1.scp": [], "utt2spk": [], "utt2num_samples": []}
        for i in range(count):
            key = f"{name}_{i:03d}"
            clean = _speech(rng.uniform(2.0, 4.0), rng.uniform(90, 250), rng)
            noise = rng.standard_normal(clean.size).astype(np.float32)
            noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (rng.uniform(0, 10) / 10))
            sf.write(d / "wav" / f"{key}_clean.wav", clean, SR, subtype="FLOAT")
            sf.write(d / "wav" / f"{key}_noisy.wav", clean + noise, SR, subtype="FLOAT")
            rows["wav.scp"].append(f"{key} {d / 'wav' / f'{key}_noisy.wav'}")
            rows["spk1.scp"].append(f"{key} {d / 'wav' / f'{key}_clean.wav'}")
            rows["utt2spk"].append(f"{key} {key}")
            rows["utt2num_samples"].append(f"{key} {clean.size}")
        for file, lines in rows.items():
            (d / file).write_text("".join(line + "\n" for line in lines))
        (d / "spk2utt").write_text("".join(f"{k} {k}\n" for k in (line.split()[0] for line in rows["utt2spk"])))
    print(f"data: {root}/{{train,valid,test}}")
    return 0


def rnn_dtype() -> int:
    """Under autocast a bare cuDNN RNN may run in fp16; mal's RecurrentBlock must stay float32."""
    from mal.models.layers import RecurrentBlock

    device, ok = torch.device("cuda"), True
    x = torch.randn(4, 50, 32, device=device)
    for dtype in (torch.bfloat16, torch.float16):
        for kind, cls in (("lstm", nn.LSTM), ("gru", nn.GRU)):
            bare = cls(32, 64, batch_first=True).to(device)
            block = RecurrentBlock(32, 64, kind=kind, bidirectional=True).to(device)
            inp = x.clone().requires_grad_(True)
            with torch.autocast("cuda", dtype=dtype):
                y_bare, _ = bare(x)
                y, _ = block(inp.to(dtype))
            y.float().square().mean().backward()
            grads = [p.grad for p in block.parameters()]
            good = y.dtype == torch.float32 and all(g is not None and g.dtype == torch.float32 and bool(torch.isfinite(g).all()) for g in grads)
            ok &= good
            print(f"rnn-dtype: {kind} under {dtype} autocast: bare nn.{cls.__name__} -> {y_bare.dtype}; "
                  f"RecurrentBlock -> {y.dtype}, float32 finite gradients: {'yes' if good else 'NO'}")
    return 0 if ok else 1


def run_ok(exp: Path) -> int:
    with open(exp / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    last = rows[-1] if rows else {}
    losses = {k: float(v) for k, v in last.items() if k.endswith("_loss") or k in ("valid_sisdri",)}
    finite = bool(losses) and all(math.isfinite(v) for v in losses.values())
    bad = int(last.get("bad_steps", -1))
    log = (exp / "train.log").read_text() if (exp / "train.log").is_file() else ""
    skips = log.count("gradients overflowed at loss scale")
    print(f"run-ok: {exp}: step {last.get('step')}, {losses}, bad_steps {bad}, scaler overflow skips {skips}")
    return 0 if finite and bad == 0 else 1


def same_weights(a: Path, b: Path) -> int:
    from mal.models.checkpoint import load_checkpoint

    sa, sb = (load_checkpoint(p)["model"]["state_dict"] for p in (a, b))
    differ = [k for k in sa if not torch.equal(sa[k], sb[k])]
    print(f"same-weights: {a} vs {b}: {len(sa) - len(differ)}/{len(sa)} tensors identical" + (f"; differ: {differ[:5]}" if differ else ""))
    return 0 if not differ and sa.keys() == sb.keys() else 1


def _scp(path: Path) -> Dict[str, str]:
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())


def same_audio(a: Path, b: Path, min_snr: float) -> int:
    sa, sb = _scp(a), _scp(b)
    if sa.keys() != sb.keys():
        print(f"same-audio: key sets differ: {sorted(sa.keys() ^ sb.keys())[:5]}")
        return 1
    worst = math.inf
    for key in sorted(sa):
        x, _ = sf.read(sa[key], dtype="float32")
        y, _ = sf.read(sb[key], dtype="float32")
        n = min(len(x), len(y))
        snr = 10 * math.log10(float(np.sum(x[:n] ** 2)) / max(float(np.sum((x[:n] - y[:n]) ** 2)), 1e-20))
        worst = min(worst, snr if len(x) == len(y) else -math.inf)
        print(f"same-audio: {key}: {len(x)} vs {len(y)} samples, max |diff| {np.abs(x[:n] - y[:n]).max():.2e}, SNR {snr:.1f} dB")
    print(f"same-audio: worst SNR {worst:.1f} dB (needs >= {min_snr:g})")
    return 0 if worst >= min_snr else 1


def throughput(config_path: Path, steps: int) -> int:
    """Optimiser steps per second (and seconds of audio per second) of the config's model and
    criterion with bf16 autocast, and the offline real-time factor of enhancing 60 s."""
    from mal.losses import CombinedLoss
    from mal.models import build_model
    from mal.train.config import load_config
    from mal.train.precision import MixedPrecision

    config = load_config(config_path)
    device = torch.device("cuda")
    model = build_model(config["model"]["name"], **config["model"]["conf"]).to(device)
    batch, seconds = config["batch"]["batch_size"], config["batch"]["segment_seconds"]
    for criterions in (config["criterions"], [{"name": "mal", "conf": {"variant": "frozen", "layers": "all"}}, {"name": "l1"}]):
        criterion = CombinedLoss(criterions)
        criterion.attach(model)
        criterion.to(device)
        precision = MixedPrecision(device, True, torch.bfloat16)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        noisy = torch.randn(batch, int(seconds * SR), device=device) * 0.1
        clean = noisy * 0.5
        torch.backends.cudnn.benchmark = True
        for i in range(steps + 5):
            if i == 5:
                torch.cuda.synchronize()
                start = time.perf_counter()
            with precision.autocast():
                enhanced = model(noisy)
            loss, _ = criterion(enhanced.float(), clean, noisy)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        per_step = (time.perf_counter() - start) / steps
        names = "+".join(c["name"] for c in criterions)
        print(f"throughput: train {names}: {per_step * 1000:.1f} ms/step, {batch * seconds / per_step:.0f} s of audio per s (bf16 autocast)")
    torch.backends.cudnn.benchmark = False
    model.eval()
    wav = torch.randn(1, 60 * SR, device=device) * 0.1
    with torch.no_grad():
        model(wav)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(3):
            model(wav)
        torch.cuda.synchronize()
    rtf = (time.perf_counter() - start) / 3 / 60
    print(f"throughput: enhance 60 s in one piece (fp32): RTF {rtf:.5f}")
    return 0


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("data").add_argument("root", type=Path)
    sub.add_parser("rnn-dtype")
    sub.add_parser("run-ok").add_argument("exp", type=Path)
    p = sub.add_parser("same-weights")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p = sub.add_parser("same-audio")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--min-snr", type=float, default=40.0)
    p = sub.add_parser("throughput")
    p.add_argument("config", type=Path)
    p.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    if args.command == "data":
        return make_data(args.root)
    if args.command == "run-ok":
        return run_ok(args.exp)
    if args.command == "same-weights":
        return same_weights(args.a, args.b)
    if args.command == "same-audio":
        return same_audio(args.a, args.b, args.min_snr)
    if not torch.cuda.is_available():
        print(f"gpu_check.py {args.command}: no CUDA device", file=sys.stderr)
        return 1
    if args.command == "rnn-dtype":
        return rnn_dtype()
    return throughput(args.config, args.steps)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
