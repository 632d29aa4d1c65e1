#!/usr/bin/env python
"""How far a mask model could go: oracle time-frequency masks on a recipe's test sets.

    python -m bench.oracle_mask --data egs/mini_offline/data [--sets valid,test,test_ood,test_real] \\
        [--n-fft 512] [--hop 128] [--bound 2.0] [--max-utts 0] [--model NAME]

For every utterance the mask is computed from its own clean and noisy signals (the noise is
their difference) and applied to the noisy STFT, as TFMaskNet applies its predicted mask:

- ``irm``: the ideal ratio mask ``|S|^2 / (|S|^2 + |N|^2)`` (real, in [0, 1]);
- ``cirm``: the complex ideal ratio mask ``S / Y`` with its magnitude clipped to ``--bound``
  (TFMaskNet's ``mask_bound``): the best this STFT and mask range allow.

PESQ-WB, ESTOI and SI-SDR of noisy, both oracles and, with ``--model``, a shipped model's card
numbers are printed as one Markdown table per set: the gap between the model and the oracles is
what training (data, loss, capacity, steps) has not yet learnt.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from mal.io import AudioError, ScpError, read_audio, read_scp
from mal.score.metrics import score_pair

METRICS = ("pesq_wb", "estoi", "sisdr")
SAMPLE_RATE = 16000


def oracle_masks(noisy: np.ndarray, clean: np.ndarray, n_fft: int, hop: int, bound: float) -> Dict[str, np.ndarray]:
    """``{"irm": wav, "cirm": wav}``: noisy masked by each oracle mask, same length as noisy."""
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)

    def stft(x: np.ndarray) -> torch.Tensor:
        return torch.stft(torch.from_numpy(x.astype(np.float64)), n_fft, hop, window=window, center=True, return_complex=True)

    y, s = stft(noisy), stft(clean)
    n = y - s
    eps = 1e-12
    irm = s.abs() ** 2 / (s.abs() ** 2 + n.abs() ** 2 + eps)
    cirm = s / (y + eps)
    cirm = torch.where(cirm.abs() > bound, cirm / cirm.abs() * bound, cirm)
    out = {}
    for name, mask in (("irm", irm), ("cirm", cirm)):
        wav = torch.istft(y * mask, n_fft, hop, window=window, center=True, length=noisy.shape[-1])
        out[name] = wav.numpy().astype(np.float32)
    return out


def score_set(data: Path, n_fft: int, hop: int, bound: float, max_utts: int) -> Dict[str, Dict[str, float]]:
    """Mean of each metric for noisy, irm and cirm over the set's utterances."""
    noisy_scp, clean_scp = read_scp(data / "wav.scp"), read_scp(data / "spk1.scp")
    keys = sorted(noisy_scp)[: max_utts or None]
    missing = [key for key in keys if key not in clean_scp]
    if missing:
        raise ScpError(f"{data / 'spk1.scp'}: no clean reference for key '{missing[0]}' of wav.scp")
    values: Dict[str, Dict[str, List[float]]] = {}
    for key in keys:
        noisy, _ = read_audio(noisy_scp[key], SAMPLE_RATE, key=key)
        clean, _ = read_audio(clean_scp[key], SAMPLE_RATE, key=key)
        for system, wav in {"noisy": noisy, **oracle_masks(noisy, clean, n_fft, hop, bound)}.items():
            for metric, value in score_pair(clean, wav, SAMPLE_RATE, METRICS, key=key).items():
                values.setdefault(system, {}).setdefault(metric, []).append(value)
    return {system: {m: float(np.mean(v)) for m, v in by_metric.items()} | {"n": len(keys)} for system, by_metric in values.items()}


def card_scores(name: str) -> Dict[str, Dict[str, float]]:
    """A shipped model's card numbers, ``{set: {metric: mean}}``."""
    from bench.shipped_model import card_scores_path

    scores = json.loads(card_scores_path(name).read_text())
    return {s: {m: v["mean"] for m, v in by_metric.items()} for s, by_metric in scores.items()}


def table(name: str, rows: Dict[str, Dict[str, float]]) -> str:
    lines = [f"### {name} (n = {int(rows['noisy']['n'])})", "", "| system | " + " | ".join(METRICS) + " |",
             "|---" * (len(METRICS) + 1) + "|"]
    for system, scores in rows.items():
        lines.append(f"| {system} | " + " | ".join(f"{scores[m]:.3f}" if m in scores else "-" for m in METRICS) + " |")
    return "\n".join(lines) + "\n"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="directory of the recipe's <set>/ data dirs")
    p.add_argument("--sets", default="valid,test,test_ood,test_real", help="comma-separated set names")
    p.add_argument("--n-fft", type=int, default=512)
    p.add_argument("--hop", type=int, default=128)
    p.add_argument("--bound", type=float, default=2.0, help="largest magnitude of the complex mask")
    p.add_argument("--max-utts", type=int, default=0, help="score the first N keys of each set (0: all)")
    p.add_argument("--model", default=None, help="a shipped model whose card numbers join the table")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    card = card_scores(args.model) if args.model else {}
    for name in [s for s in args.sets.split(",") if s]:
        data = args.data / name
        if not (data / "wav.scp").is_file() or not (data / "spk1.scp").is_file():
            print(f"oracle_mask: error: {data}: needs wav.scp and spk1.scp", file=sys.stderr)
            return 1
        try:
            rows = score_set(data, args.n_fft, args.hop, args.bound, args.max_utts)
        except (AudioError, ScpError) as e:
            print(f"oracle_mask: error: {e}", file=sys.stderr)
            return 1
        if name in card:
            rows[f"{args.model} (card)"] = card[name]
        print(table(name, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
