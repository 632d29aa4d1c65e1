#!/usr/bin/env python3
"""Build the offline corpus: data/{train,valid,test,test_ood,test_real,test_ambient,test_colored}
as Kaldi data dirs, and the pools dynamic mixing draws from: data/train_noise (noise clips) and
data/train_rir (rooms).

Each set: noisy/clean/noise wavs (16 kHz mono PCM-16) under AUDIO_DIR/<set>/ and, sorted by
key, wav.scp (noisy), spk1.scp (clean), noise1.scp, utt2spk, spk2utt, utt2num_samples,
utt2category (noise kind), utt2snr (dB), utt2room (rooms/<n>.wav or "dry") and ``text`` where
every utterance has a transcript (synthetic speech only). A set is complete when
DATA_DIR/<set>/.done (written last) matches the options; a complete set is skipped, any other
is rebuilt.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_plan import SET_NAMES, CorpusOptions, SetPlan, UtterancePlan, plan_corpus  # noqa: E402
from mal.io import read_audio, write_scp, write_wav  # noqa: E402
from mal.io.atomic import atomic_open  # noqa: E402
from mal.train.mixing import align_rir, mix, reverberate  # noqa: E402
from noises import NoiseContext, check_sources, make_noise  # noqa: E402
from rooms import simulate_rirs  # noqa: E402

MARKER = ".done"

# Per-process state of the worker pool: babble speech, loaded once per process.
_BABBLE_POOL: List[Tuple[str, np.ndarray]] = []


def _init_worker(babble_files: Sequence[Tuple[str, str]], sample_rate: int) -> None:
    global _BABBLE_POOL
    _BABBLE_POOL = [(spk, read_audio(path, sample_rate, key=spk)[0]) for spk, path in babble_files]


def _synthesize_babble(job: Tuple[object, str, str, int]) -> str:
    speaker, sentence, path, sample_rate = job
    write_wav(path, speaker.synthesize(sentence, sample_rate), sample_rate)
    return path


def room_path(audio_dir: str, room: int) -> Path:
    return Path(audio_dir) / "rooms" / f"{room:04d}.wav"


def build_utterance(utt: UtterancePlan, audio_dir: str, sample_rate: int) -> Tuple[str, int]:
    """Synthesize, reverberate (when the plan draws a room), add noise, write noisy/clean/noise
    wavs; return ``(key, num_samples)``."""
    speech = utt.speaker.synthesize(utt.sentence, sample_rate)
    pad = lambda s: np.zeros(int(round(s * sample_rate)), np.float32)  # noqa: E731
    speech = np.concatenate([pad(utt.lead_s), speech, pad(utt.trail_s)])
    if utt.room >= 0:
        rir, _ = read_audio(str(room_path(audio_dir, utt.room)), sample_rate, key=utt.key)
        speech = reverberate(speech, align_rir(rir))
    ctx = NoiseContext(sample_rate, _BABBLE_POOL, utt.speaker.id)
    noise = make_noise(utt.noise_kind, np.random.default_rng(list(utt.seed)), speech.size, ctx)
    clean, noise, noisy, _ = mix(speech, noise, utt.snr_db, utt.level_dbfs)
    for kind, wav in (("noisy", noisy), ("clean", clean), ("noise", noise)):
        write_wav(Path(audio_dir) / kind / f"{utt.key}.wav", wav, sample_rate)
    return utt.key, int(speech.size)


def _build_one(job: Tuple[UtterancePlan, str, int]) -> Tuple[str, int]:
    return build_utterance(*job)


def _map(fn, jobs: list, nj: int, initargs: tuple) -> list:
    """``fn`` over ``jobs`` in ``nj`` processes (in this process when nj == 1), order kept."""
    if nj <= 1 or len(jobs) <= 1:
        _init_worker(*initargs)
        return [fn(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=nj, initializer=_init_worker, initargs=initargs) as pool:
        return list(pool.map(fn, jobs, chunksize=max(1, min(16, len(jobs) // (4 * nj)))))


def read_marker(set_dir: Path) -> Optional[dict]:
    try:
        return json.loads((set_dir / MARKER).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_kaldi_files(set_dir: Path, plan: SetPlan, audio_dir: Path, lengths: Dict[str, int]) -> None:
    utts = plan.utterances
    wav = lambda kind, u: str((audio_dir / kind / f"{u.key}.wav").resolve())  # noqa: E731
    write_scp(set_dir / "wav.scp", {u.key: wav("noisy", u) for u in utts})
    write_scp(set_dir / "spk1.scp", {u.key: wav("clean", u) for u in utts})
    write_scp(set_dir / "noise1.scp", {u.key: wav("noise", u) for u in utts})
    write_scp(set_dir / "utt2spk", {u.key: u.speaker.id for u in utts})
    spk2utt: Dict[str, List[str]] = {}
    for u in sorted(utts, key=lambda u: u.key):
        spk2utt.setdefault(u.speaker.id, []).append(u.key)
    write_scp(set_dir / "spk2utt", {spk: " ".join(keys) for spk, keys in spk2utt.items()})
    if all(u.text is not None for u in utts):
        write_scp(set_dir / "text", {u.key: u.text for u in utts})
    write_scp(set_dir / "utt2room", {u.key: f"rooms/{u.room:04d}.wav" if u.room >= 0 else "dry" for u in utts})
    write_scp(set_dir / "utt2num_samples", lengths)
    write_scp(set_dir / "utt2category", {u.key: u.noise_kind for u in utts})
    write_scp(set_dir / "utt2snr", {u.key: f"{u.snr_db:.3f}" for u in utts})


def build_set(plan: SetPlan, options: CorpusOptions, data_dir: Path, audio_root: Path, nj: int) -> bool:
    """Build one set unless an identical complete one exists; True when it was (re)built."""
    set_dir, audio_dir = data_dir / plan.name, audio_root / plan.name
    signature = dict(plan.signature(options), audio_dir=str(audio_dir.resolve()))
    if read_marker(set_dir) == signature:
        print(f"{plan.name}: complete ({len(plan.utterances)} utterances in {set_dir}), skipping")
        return False
    start = time.time()
    for stale in (set_dir, audio_dir):  # an incomplete or different set is rebuilt from scratch
        if stale.exists():
            shutil.rmtree(stale)
    set_dir.mkdir(parents=True)
    rate = options.sample_rate
    babble_dir = (audio_dir / "babble").resolve()
    babble_jobs = [(spk, text, str(babble_dir / f"{spk.id}-{j:03d}.wav"), rate) for j, (spk, text) in enumerate(plan.babble)]
    babble_paths = _map(_synthesize_babble, babble_jobs, nj, ((), rate))
    babble_files = [(spk.id, path) for (spk, _), path in zip(plan.babble, babble_paths)]
    write_rooms(audio_dir / "rooms", simulate_rirs(options.seed, SET_NAMES.index(plan.name), plan.num_rooms, rate), rate)
    jobs = [(u, str(audio_dir), rate) for u in plan.utterances]
    lengths = dict(_map(_build_one, jobs, nj, (babble_files, rate)))
    write_kaldi_files(set_dir, plan, audio_dir, lengths)
    with atomic_open(set_dir / MARKER) as f:
        json.dump(signature, f, indent=1, sort_keys=True)
    hours = sum(lengths.values()) / rate / 3600
    num_speakers = len({u.speaker.id for u in plan.utterances})
    print(f"{plan.name}: {len(lengths)} utterances ({hours * 60:.1f} min of audio, {num_speakers} speakers, "
          f"noise kinds {','.join(plan.noise_kinds)}) in {time.time() - start:.1f} s -> {set_dir}")
    return True


def write_rooms(room_dir: Path, rooms: List[Tuple[np.ndarray, float]], sample_rate: int) -> Dict[str, str]:
    """RIR wavs (float, unnormalised) ``<room_dir>/<n>.wav``; returns ``{key: path}``."""
    room_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i, (rir, rt60) in enumerate(rooms):
        path = room_dir / f"{i:04d}.wav"
        write_wav(path, rir / max(float(np.abs(rir).max()), 1e-9), sample_rate, subtype="FLOAT")
        paths[f"room{i:04d}-rt{round(rt60 * 1000):04d}"] = str(path.resolve())
    return paths


def _noise_clip(job: Tuple[str, Tuple[int, ...], int, str, int]) -> str:
    kind, seed, num_samples, path, sample_rate = job
    ctx = NoiseContext(sample_rate, _BABBLE_POOL, "")
    write_wav(path, 0.1 * make_noise(kind, np.random.default_rng(list(seed)), num_samples, ctx), sample_rate)
    return path


def build_pools(plan: SetPlan, options: CorpusOptions, data_dir: Path, audio_root: Path, nj: int) -> bool:
    """data/train_noise (clips of every training noise kind) and data/train_rir (rooms) for dynamic
    mixing, unless identical complete ones exist; True when they were (re)built."""
    noise_dir, rir_dir, audio_dir = data_dir / "train_noise", data_dir / "train_rir", audio_root / "train_pools"
    signature = dict(plan.signature(options), set="train_pools", audio_dir=str(audio_dir.resolve()),
                     num_noise_clips=options.num_noise_clips, num_train_rooms=options.num_train_rooms)
    if read_marker(noise_dir) == signature and read_marker(rir_dir) == signature:
        print("train_noise, train_rir: complete, skipping")
        return False
    start = time.time()
    for stale in (noise_dir, rir_dir, audio_dir):
        if stale.exists():
            shutil.rmtree(stale)
    rate = options.sample_rate
    rooms = write_rooms(audio_dir / "rooms", simulate_rirs(options.seed, 100, options.num_train_rooms, rate), rate)
    babble_jobs = [(spk, text, str((audio_dir / "babble").resolve() / f"{spk.id}-{j:03d}.wav"), rate) for j, (spk, text) in enumerate(plan.babble)]
    babble_paths = _map(_synthesize_babble, babble_jobs, nj, ((), rate))
    babble_files = [(spk.id, path) for (spk, _), path in zip(plan.babble, babble_paths)]
    clip = int(round(options.noise_clip_seconds * rate))
    jobs, kinds = [], {}
    for k, kind in enumerate(plan.noise_kinds):
        for i in range(options.num_noise_clips):
            key = f"{kind}-{i:04d}"
            jobs.append((kind, (options.seed, 100, k, i), clip, str((audio_dir / "noise" / f"{key}.wav").resolve()), rate))
            kinds[key] = kind
    (audio_dir / "noise").mkdir(parents=True, exist_ok=True)
    paths = _map(_noise_clip, jobs, nj, (babble_files, rate))
    noise_dir.mkdir(parents=True)
    rir_dir.mkdir(parents=True)
    write_scp(noise_dir / "wav.scp", dict(zip(kinds, paths)))
    write_scp(noise_dir / "utt2category", kinds)
    write_scp(rir_dir / "wav.scp", rooms)
    for d in (noise_dir, rir_dir):
        with atomic_open(d / MARKER) as f:
            json.dump(signature, f, indent=1, sort_keys=True)
    print(f"train_noise: {len(paths)} clips of {len(plan.noise_kinds)} kinds ({len(paths) * options.noise_clip_seconds / 60:.1f} min); "
          f"train_rir: {len(rooms)} rooms; in {time.time() - start:.1f} s -> {noise_dir}, {rir_dir}")
    return True


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = CorpusOptions()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    parser.add_argument("--data_dir", type=Path, default=Path("data"))
    parser.add_argument("--audio_dir", type=Path, default=Path("downloads/mini_offline"))
    parser.add_argument("--nj", type=int, default=2, help="synthesis processes")
    parser.add_argument("--sets", default=",".join(SET_NAMES), help="comma-separated sets to build")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    options = CorpusOptions(**{k: getattr(args, k) for k in asdict(CorpusOptions())})
    set_names = [s for s in args.sets.split(",") if s]
    try:
        plans = plan_corpus(options, set_names)
        check_sources(sorted({k for p in plans.values() for k in p.noise_kinds}))
    except (ValueError, RuntimeError, AssertionError) as e:
        print(f"make_corpus.py: error: {e}", file=sys.stderr)
        return 1
    start = time.time()
    for name, plan in plans.items():
        if not plan.utterances:
            print(f"{name}: num_{name}=0, skipping")
            continue
        try:
            build_set(plan, options, args.data_dir, args.audio_dir, args.nj)
            if name == "train":
                build_pools(plan, options, args.data_dir, args.audio_dir, args.nj)
        except (OSError, ValueError, RuntimeError) as e:  # synthesis, noise source or write failures
            print(f"make_corpus.py: error: {name}: {e} (the set stays incomplete; rerun rebuilds it)", file=sys.stderr)
            return 1
    print(f"make_corpus.py: done in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
