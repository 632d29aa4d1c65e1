#!/usr/bin/env python3
"""Synthesise DNS Challenge training and validation mixtures -> data/train, data/valid.

Each mixture: a ``--clip_seconds`` window of a clean clip from ``datasets/clean`` (re-drawn, up
to ``MAX_DRAWS`` times, while less than ``--clean_activity_threshold`` of it is speech), optionally
reverberated (probability ``--reverb_prob``; the target is then the reverberant speech, as in
the challenge), plus noise from ``datasets/noise`` (clips concatenated to the length, random
crop) at an SNR drawn uniformly from [``--snr_low``, ``--snr_high``] dB, the mixture at a level
drawn from [``--target_level_low``, ``--target_level_high``] dBFS, scaled down together when a
signal would clip (see dns_mixing.py). Validation uses held-out readers and held-out noise files.

Mixture ``i`` of a set depends only on (``--seed``, set, ``i``) and the file lists, so the
corpus is reproducible and independent of ``--nj``. A set whose marker
(``<dump_dir>/<set>/.done``) records the same options is skipped; otherwise it is rebuilt.
Writes per set: wav.scp (noisy) spk1.scp (target) [noise1.scp] utt2spk spk2utt utt2snr
utt2level (dBFS) utt2rir (RIR file or "none") utt2noise (the noise files used, comma-separated).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

import dns_mixing
import dns_rirs
from dns_layout import RIR_FOLDER, TRAIN_FOLDERS, CorpusError, check_folders, list_wavs, speaker_of
from mal.io import AudioError, read_audio, write_data_dir, write_wav

SETS = {"train": 1, "valid": 2}  # set -> code mixed into the random seed
MAX_DRAWS = 10  # clean windows tried per mixture before taking one below the activity threshold


def split_by(items: Sequence[Path], groups: Sequence[str], fraction: float, seed: int, what: str) -> Tuple[List[Path], List[Path]]:
    """(train, valid): whole groups (readers, or files) go to valid, at least one each side."""
    names = sorted(set(groups))
    if len(names) < 2:
        raise CorpusError(f"need at least 2 distinct {what} to hold some out for validation, found {len(names)}")
    count = min(len(names) - 1, max(1, int(round(fraction * len(names)))))
    held = set(np.random.default_rng(seed).choice(names, size=count, replace=False).tolist())
    train = [p for p, g in zip(items, groups) if g not in held]
    valid = [p for p, g in zip(items, groups) if g in held]
    return train, valid


class Synthesiser:
    """Makes mixture ``i`` of one set; built once per worker process."""

    def __init__(self, name: str, clean: List[Path], noise: List[Path], rirs: List[Path], args: argparse.Namespace):
        self.name, self.clean, self.noise, self.rirs, self.args = name, clean, noise, rirs, args
        self.rate = args.sample_rate
        self.clip = int(round(args.clip_seconds * self.rate))
        self.order = np.random.default_rng([args.seed, SETS[name]]).permutation(len(clean))
        self.out = Path(args.dump_dir).absolute() / name

    def read(self, path: Path) -> np.ndarray:
        try:
            return read_audio(str(path), self.rate, resample_to_rate=True)[0]
        except AudioError as e:
            raise CorpusError(str(e)) from None

    def speech(self, i: int, rng: np.random.Generator) -> Tuple[Path, np.ndarray, bool]:
        """A clean window with enough speech activity: ``(file, samples, active_enough)``."""
        for draw in range(MAX_DRAWS):
            path = self.clean[self.order[i % len(self.clean)]] if draw == 0 else self.clean[rng.integers(len(self.clean))]
            wav = self.read(path)
            if len(wav) > self.clip:
                start = int(rng.integers(0, len(wav) - self.clip + 1))
                wav = wav[start : start + self.clip]
            if dns_mixing.active_fraction(wav, self.rate) >= self.args.clean_activity_threshold:
                return path, wav, True
        return path, wav, False

    def __call__(self, i: int) -> Dict[str, object]:
        rng = np.random.default_rng([self.args.seed, SETS[self.name], i])
        path, clean, active = self.speech(i, rng)
        rir = "none"
        if self.rirs and rng.random() < self.args.reverb_prob:
            rir_path = self.rirs[rng.integers(len(self.rirs))]
            clean = dns_rirs.reverberate(clean, dns_rirs.load_rir(rir_path, self.rate))
            rir = str(rir_path)
        snr = float(rng.uniform(self.args.snr_low, self.args.snr_high))
        level = float(rng.uniform(self.args.target_level_low, self.args.target_level_high))
        for _ in range(MAX_DRAWS):
            used: List[str] = []

            def draw() -> np.ndarray:
                noise_path = self.noise[rng.integers(len(self.noise))]
                used.append(noise_path.name)
                return self.read(noise_path)

            noise = dns_mixing.fit_noise(draw, len(clean), rng)
            if dns_mixing.rms_dbfs(noise) >= dns_mixing.SILENCE_DBFS:
                break
        else:
            raise CorpusError(f"{self.name} mixture {i}: {MAX_DRAWS} noise draws were all digital silence")
        try:
            mixture = dns_mixing.mix(clean, noise, snr, level)
        except ValueError as e:
            raise CorpusError(f"{self.name} mixture {i} (clean {path}): {e}") from None
        spk = speaker_of(path)
        key = f"{spk}-{self.name[:2]}{i:07d}"
        row = {"key": key, "spk": spk, "snr": f"{snr:.2f}", "level": f"{mixture.level_dbfs:.2f}", "rir": rir,
               "noises": ",".join(used),
               "active": active, "clipped": mixture.clip_gain_db < 0}
        for kind, signal in (("noisy", mixture.noisy), ("clean", mixture.clean), ("noise", mixture.noise)):
            if kind != "noise" or self.args.write_noise:
                row[kind] = str(self.out / kind / f"{key}.wav")
                write_wav(row[kind], signal, self.rate)
        return row


_WORKER: Optional[Synthesiser] = None


def _init_worker(*state) -> None:
    global _WORKER
    _WORKER = Synthesiser(*state)


def _make(i: int) -> Dict[str, object]:
    assert _WORKER is not None
    return _WORKER(i)


def marker_options(name: str, count: int, clean: List[Path], noise: List[Path], rirs: List[Path], args: argparse.Namespace) -> dict:
    keys = ("clip_seconds", "snr_low", "snr_high", "target_level_low", "target_level_high", "clean_activity_threshold",
            "reverb_prob", "write_noise", "seed", "sample_rate", "data_dir")
    opts = {k: getattr(args, k) for k in keys}
    opts.update(set=name, count=count, clean=[str(p) for p in clean], noise=[str(p) for p in noise], rirs=[str(p) for p in rirs])
    return opts


def make_set(name: str, count: int, clean: List[Path], noise: List[Path], rirs: List[Path], args: argparse.Namespace) -> None:
    out = Path(args.dump_dir).absolute() / name
    data = Path(args.data_dir) / name
    marker = out / ".done"
    options = marker_options(name, count, clean, noise, rirs, args)
    if marker.is_file() and json.loads(marker.read_text()) == options and (data / "wav.scp").is_file():
        print(f"{name}: {count} mixtures already in {out} with these options; skipping")
        return
    if out.exists():
        shutil.rmtree(out)
    state = (name, clean, noise, rirs, args)
    with ProcessPoolExecutor(max_workers=max(1, args.nj), initializer=_init_worker, initargs=state) as pool:
        rows = list(pool.map(_make, range(count), chunksize=max(1, min(64, count // (4 * max(1, args.nj)) or 1))))
    tables: Dict[str, Dict[str, str]] = {n: {} for n in ("wav.scp", "spk1.scp", "utt2spk", "utt2snr", "utt2level", "utt2rir", "utt2noise")}
    if args.write_noise:
        tables["noise1.scp"] = {}
    for row in rows:
        key = row["key"]
        tables["wav.scp"][key], tables["spk1.scp"][key], tables["utt2spk"][key] = row["noisy"], row["clean"], row["spk"]
        tables["utt2snr"][key], tables["utt2level"][key], tables["utt2rir"][key] = row["snr"], row["level"], row["rir"]
        tables["utt2noise"][key] = row["noises"]
        if args.write_noise:
            tables["noise1.scp"][key] = row["noise"]
    write_data_dir(data, tables)
    marker.write_text(json.dumps(options))
    low = sum(not r["active"] for r in rows)
    clipped = sum(r["clipped"] for r in rows)
    reverberant = sum(r["rir"] != "none" for r in rows)
    print(f"{name}: {count} mixtures ({len(set(tables['utt2spk'].values()))} readers, {reverberant} reverberant, "
          f"{clipped} scaled down to avoid clipping, {low} with clean activity below "
          f"{args.clean_activity_threshold} after {MAX_DRAWS} draws) -> {data}")


def rir_list(db_root: Path, args: argparse.Namespace) -> List[Path]:
    """RIR files for reverberation: --rir_dir, else the challenge's folder, else simulated ones."""
    if args.reverb_prob <= 0:
        return []
    try:
        if args.rir_dir:
            return dns_rirs.find_rirs(Path(args.rir_dir).absolute())
        if (db_root / RIR_FOLDER).is_dir():
            return dns_rirs.find_rirs(db_root / RIR_FOLDER)
        folder = Path(args.dump_dir).absolute() / "rirs"
        print(f"no RIR folder ({db_root / RIR_FOLDER} absent, no --rir_dir): {args.num_simulated_rirs} rooms "
              f"simulated with pyroomacoustics in {folder} (made once, then kept)")
        return dns_rirs.simulated_rir_files(folder, args.num_simulated_rirs, args.sample_rate, args.seed)
    except dns_rirs.RirError as e:
        raise CorpusError(str(e)) from None


def synthesise(args: argparse.Namespace) -> None:
    db_root = Path(args.db_root).absolute()
    check_folders(db_root, TRAIN_FOLDERS)
    clean = list_wavs(db_root / TRAIN_FOLDERS["clean"])
    noise = list_wavs(db_root / TRAIN_FOLDERS["noise"])
    clean_train, clean_valid = split_by(clean, [speaker_of(p) for p in clean], args.valid_fraction, args.seed,
                                        f"readers (reader_<id> in the names of {db_root / TRAIN_FOLDERS['clean']})")
    noise_train, noise_valid = split_by(noise, [p.name for p in noise], args.valid_fraction, args.seed + 1,
                                        f"noise files in {db_root / TRAIN_FOLDERS['noise']}")
    rirs = rir_list(db_root, args)
    make_set("train", args.num_train, clean_train, noise_train, rirs, args)
    make_set("valid", args.num_valid, clean_valid, noise_valid, rirs, args)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--db_root", required=True, help="the DNS-Challenge clone (holding datasets/clean and datasets/noise)")
    add("--dump_dir", default="dump", help="mixtures go to <dump_dir>/<set>/{noisy,clean,noise}/<utt>.wav")
    add("--data_dir", default="data", help="data dirs go to <data_dir>/{train,valid}")
    add("--num_train", type=int, default=36000, help="training mixtures (36000 x 10 s = 100 h)")
    add("--num_valid", type=int, default=360, help="validation mixtures")
    add("--clip_seconds", type=float, default=10.0, help="mixture length (shorter clean clips give shorter mixtures)")
    add("--snr_low", type=float, default=0.0, help="lowest SNR (dB); the 2020 challenge's synthesizer used 0..40")
    add("--snr_high", type=float, default=40.0, help="highest SNR (dB)")
    add("--target_level_low", type=float, default=-35.0, help="lowest mixture level (dBFS RMS)")
    add("--target_level_high", type=float, default=-15.0, help="highest mixture level (dBFS RMS)")
    add("--clean_activity_threshold", type=float, default=0.6, help="minimum share of active 50 ms frames in a clean window")
    add("--valid_fraction", type=float, default=0.02, help="share of readers and of noise files held out for validation")
    add("--reverb_prob", type=float, default=0.0, help="probability that a mixture's speech is reverberated")
    add("--rir_dir", default="", help="RIR wavs (default: <db_root>/datasets/impulse_responses if present, "
        "else rooms simulated with pyroomacoustics)")
    add("--num_simulated_rirs", type=int, default=200, help="simulated rooms when no RIR folder exists")
    add("--write_noise", default="false", choices=("true", "false"), help="also write the noise signals (noise1.scp)")
    add("--sample_rate", type=int, default=16000)
    add("--seed", type=int, default=0)
    add("--nj", type=int, default=4, help="parallel processes")
    return parser


def main(argv: Sequence[str] = None) -> int:
    args = get_parser().parse_args(argv)
    args.write_noise = args.write_noise == "true"
    problems = [f"--{n} must be {c}" for n, ok, c in (
        ("num_train", args.num_train >= 1, ">= 1"), ("num_valid", args.num_valid >= 1, ">= 1"),
        ("clip_seconds", args.clip_seconds > 0, "> 0"), ("snr_high", args.snr_high >= args.snr_low, ">= --snr_low"),
        ("target_level_high", args.target_level_high >= args.target_level_low, ">= --target_level_low"),
        ("reverb_prob", 0 <= args.reverb_prob <= 1, "in [0, 1]"), ("valid_fraction", 0 < args.valid_fraction < 1, "in (0, 1)"),
    ) if not ok]
    if problems:
        get_parser().error("; ".join(problems))
    try:
        synthesise(args)
    except CorpusError as e:
        print(f"{Path(__file__).name}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
