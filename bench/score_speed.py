#!/usr/bin/env python
"""Scoring throughput of mal-score with 1 and 2 parallel jobs, with and without DNSMOS.

    python bench/score_speed.py [--num-utts 12] [--snr 5] [--jobs 1,2] [--repeats 1]

Generates one set of noisy flite sentences (a numpy stand-in without flite), splits its keys
into nj contiguous key files as utils/split_scp.pl does, runs nj ``mal-score`` processes at once
(one thread each) and times the whole, process start-up included. Prints a Markdown table of
utterances/s, the jobs' CPU seconds and the speed-up over nj=1, then DNSMOS's own cost per
utterance and per 9.01 s window. Other jobs on the machine share the CPU: the load average is
printed with each row, and CPU seconds well below wall seconds mean the jobs were starved.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import soundfile as sf

from mal.score.metrics import ALL_METRICS, INTRUSIVE_METRICS

SAMPLE_RATE = 16000
TEXTS = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "Four hours of steady work faced us.",
]
VOICES = ["kal16", "slt", "rms", "awb"]


def make_set(directory: Path, count: int, snr_db: float) -> Dict[str, Path]:
    """Write clean and noisy wavs and their scp files; returns {'ref': scp, 'est': scp}."""
    rng = np.random.default_rng(0)
    ref_lines, est_lines = [], []
    for i in range(count):
        key = f"utt{i:03d}"
        clean_path, noisy_path = directory / f"{key}_clean.wav", directory / f"{key}_noisy.wav"
        if shutil.which("flite"):
            subprocess.run(["flite", "-voice", VOICES[i % len(VOICES)], "-t", TEXTS[i % len(TEXTS)],
                            "-o", str(clean_path)], check=True, capture_output=True)
            clean, _ = sf.read(clean_path, dtype="float32")
        else:
            t = np.arange(int(2.5 * SAMPLE_RATE)) / SAMPLE_RATE
            clean = (0.2 * np.sin(2 * np.pi * (120 + 10 * i) * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
            sf.write(clean_path, clean, SAMPLE_RATE)
        noise = rng.standard_normal(len(clean))
        noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
        sf.write(noisy_path, np.clip(clean + noise, -1, 1), SAMPLE_RATE)
        ref_lines.append(f"{key} {clean_path}\n")
        est_lines.append(f"{key} {noisy_path}\n")
    (directory / "ref.scp").write_text("".join(ref_lines))
    (directory / "est.scp").write_text("".join(est_lines))
    return {"ref": directory / "ref.scp", "est": directory / "est.scp"}


def split_keys(scp: Path, jobs: int, directory: Path) -> List[Path]:
    """Contiguous shares, as utils/split_scp.pl makes them."""
    lines = scp.read_text().splitlines(keepends=True)
    shares = np.array_split(np.arange(len(lines)), jobs)
    paths = []
    for job, share in enumerate(shares, start=1):
        path = directory / f"keys.{job}.scp"
        path.write_text("".join(lines[i] for i in share))
        paths.append(path)
    return paths


def run_jobs(files: Dict[str, Path], metrics: str, jobs: int, directory: Path) -> Tuple[float, float]:
    """Wall and CPU seconds of ``jobs`` concurrent mal-score processes over the whole set."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    key_files = split_keys(files["est"], jobs, directory)
    cpu_before = _children_cpu()
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mal.bin.score", "--ref-scp", str(files["ref"]), "--est-scp", str(files["est"]),
             "--key-file", str(keys), "--out-dir", str(directory / f"out.{jobs}.{i}"), "--metrics", metrics],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for i, keys in enumerate(key_files, start=1)
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"mal-score failed: {err[-1000:]}")
    return time.perf_counter() - start, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dnsmos_cost(files: Dict[str, Path]) -> str:
    """In-process DNSMOS seconds per utterance and per window (session created beforehand)."""
    from mal.io.scp import read_scp
    from mal.score.dnsmos import Dnsmos, get_dnsmos

    model = get_dnsmos()
    wavs = [sf.read(path, dtype="float32")[0] for path in read_scp(files["est"]).values()]
    model(wavs[0])  # warm-up
    windows = sum(len(Dnsmos.windows(w)) for w in wavs)
    start, cpu_start = time.perf_counter(), time.process_time()
    for wav in wavs:
        model(wav)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    audio = sum(len(w) for w in wavs) / SAMPLE_RATE
    return (f"DNSMOS alone (one thread): {seconds / len(wavs):.2f} s wall, {cpu / len(wavs):.2f} s CPU per utterance "
            f"(mean {audio / len(wavs):.1f} s of audio, {windows / len(wavs):.1f} windows of 9.01 s); "
            f"{seconds / windows:.2f} s wall, {cpu / windows:.2f} s CPU per window")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-utts", type=int, default=12)
    parser.add_argument("--snr", type=float, default=5.0)
    parser.add_argument("--jobs", default="1,2", help="comma-separated job counts")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs per row")
    return parser


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    job_counts = [int(j) for j in args.jobs.split(",")]
    metric_sets = {
        "intrusive (10 metrics)": ",".join(INTRUSIVE_METRICS),
        "intrusive + DNSMOS (13)": ",".join(ALL_METRICS),
    }
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        files = make_set(directory, args.num_utts, args.snr)
        print(f"{args.num_utts} utterances, {os.cpu_count()} CPUs, one thread per job\n")
        print("|metrics|nj|utts|wall s|CPU s|utt/s|speed-up|load avg (1 min)|")
        print("|---|---|---|---|---|---|---|---|")
        for label, metrics in metric_sets.items():
            base = None
            for jobs in job_counts:
                load = os.getloadavg()[0]
                seconds, cpu = min(run_jobs(files, metrics, jobs, directory) for _ in range(args.repeats))
                base = base or seconds
                print(f"|{label}|{jobs}|{args.num_utts}|{seconds:.1f}|{cpu:.1f}|{args.num_utts / seconds:.2f}|"
                      f"{base / seconds:.2f}x|{load:.1f}|", flush=True)
        print()
        print(dnsmos_cost(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
