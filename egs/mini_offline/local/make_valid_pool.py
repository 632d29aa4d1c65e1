#!/usr/bin/env python3
"""A validation set over recorded noise the model has not heard: a speech set's clean utterances
mixed with clips of the large noise pool's valid split (local/make_noise_pool.py).

``data/valid`` holds the corpus's own ten noise kinds, the ones training mixes; a model that
generalises to other noise cannot show it there. This set keeps valid's speakers and targets
(``spk1.scp``, at their level) and draws for each utterance a noise kind (uniformly, as dynamic
mixing does) and one of its clips in ``pool_valid`` (clips never in training; kinds and packages
do recur) of at least ``--min-seconds``, from a random
start, looped with 50 ms cross-fades where shorter, at an SNR uniform in ``--snr-low..--snr-high``
dB. Everything is drawn from ``--seed`` and the utterance's position. Writes ``OUT/audio/``,
``wav.scp``, ``spk1.scp``, ``noise1.scp``, ``utt2spk``, ``spk2utt``, ``utt2category``,
``utt2source``, ``utt2snr``, ``utt2num_samples``; the inputs are never written.

    local/make_valid_pool.py --speech data/valid --noise data/noise_large/pool_valid --out data/valid_pool
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
sys.path.insert(0, str(HERE))

from mal.io import read_audio, read_scp, write_scp  # noqa: E402
from mal.io.audio import write_wav  # noqa: E402
from mal.train.mixing import mix, power  # noqa: E402
from noises import LOOP_FADE_S, loop_clip  # noqa: E402

SAMPLE_RATE = 16000


def fail(message: str) -> None:
    raise SystemExit(f"make_valid_pool.py: {message}")


def build(speech: Path, noise: Path, out: Path, snr_low: float, snr_high: float, min_seconds: float, seed: int) -> int:
    """Write the set; returns the number of utterances."""
    if out.resolve() in (speech.resolve(), noise.resolve()):
        fail(f"--out {out} is an input dir")
    for path in (speech / "spk1.scp", speech / "utt2spk", noise / "wav.scp", noise / "utt2category", noise / "utt2dur",
                 noise / "utt2source"):
        if not path.is_file():
            fail(f"{path}: file not found")
    if snr_low > snr_high:
        fail(f"--snr-low {snr_low} is above --snr-high {snr_high}")
    clean_scp, utt2spk = read_scp(speech / "spk1.scp"), read_scp(speech / "utt2spk")
    clips, kinds, durations, sources = (read_scp(noise / n) for n in ("wav.scp", "utt2category", "utt2dur", "utt2source"))
    usable = sorted(k for k in clips if float(durations.get(k, 0.0)) >= min_seconds)
    if not usable:
        fail(f"{noise}: no clip of at least {min_seconds:g} s")
    by_kind: Dict[str, list] = {}
    for key in usable:
        by_kind.setdefault(kinds[key], []).append(key)
    groups = sorted(by_kind)
    tables: Dict[str, Dict[str, object]] = {n: {} for n in ("wav.scp", "spk1.scp", "noise1.scp", "utt2spk", "utt2category",
                                                              "utt2source", "utt2snr", "utt2num_samples")}
    audio = out.resolve() / "audio"  # absolute paths in the tables, as the corpus writes them
    audio.mkdir(parents=True, exist_ok=True)
    missing = [utt for utt in sorted(clean_scp) if utt not in utt2spk]
    if missing:  # checked before any audio is written
        fail(f"{speech / 'utt2spk'}: no speaker for utterance '{missing[0]}'")
    for index, utt in enumerate(sorted(clean_scp)):
        rng = np.random.default_rng([seed, index])
        clean, _ = read_audio(clean_scp[utt], SAMPLE_RATE, key=utt)
        if power(clean) <= 0:
            fail(f"{speech / 'spk1.scp'}: utterance '{utt}' is silent")
        kind = groups[int(rng.integers(len(groups)))]
        key = by_kind[kind][int(rng.integers(len(by_kind[kind])))]
        clip, _ = read_audio(clips[key], SAMPLE_RATE, resample_to_rate=True, key=key)
        noise_part = loop_clip(clip, clean.size, int(rng.integers(clip.size)), int(LOOP_FADE_S * SAMPLE_RATE))
        snr = float(rng.uniform(snr_low, snr_high))
        level = 10 * np.log10(power(clean))
        target, noise_scaled, noisy, _ = mix(clean, noise_part, snr, level)
        paths = {name: audio / f"{utt}_{name}.wav" for name in ("noisy", "clean", "noise")}
        for name, wav in (("noisy", noisy), ("clean", target), ("noise", noise_scaled)):
            write_wav(paths[name], wav, SAMPLE_RATE)
        tables["wav.scp"][utt], tables["spk1.scp"][utt], tables["noise1.scp"][utt] = (str(paths[n]) for n in ("noisy", "clean", "noise"))
        tables["utt2spk"][utt], tables["utt2category"][utt], tables["utt2source"][utt] = utt2spk[utt], kinds[key], sources[key]
        tables["utt2snr"][utt], tables["utt2num_samples"][utt] = f"{snr:.2f}", clean.size
    for name, table in tables.items():
        write_scp(out / name, table)
    spk2utt: Dict[str, list] = {}
    for utt, spk in sorted(tables["utt2spk"].items()):
        spk2utt.setdefault(str(spk), []).append(utt)
    write_scp(out / "spk2utt", spk2utt)
    count = len(tables["wav.scp"])
    print(f"make_valid_pool.py: {out}: {count} utterances over {len({tables['utt2category'][u] for u in tables['wav.scp']})} "
          f"noise kinds from {len(usable)} clips, SNR {snr_low:g}..{snr_high:g} dB")
    return count


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speech", type=Path, default=Path("data/valid"), help="a set whose spk1.scp holds the clean targets")
    parser.add_argument("--noise", type=Path, default=Path("data/noise_large/pool_valid"), help="a noise pool split")
    parser.add_argument("--out", type=Path, default=Path("data/valid_pool"))
    parser.add_argument("--snr-low", type=float, default=-5.0)
    parser.add_argument("--snr-high", type=float, default=20.0)
    parser.add_argument("--min-seconds", type=float, default=2.0, help="use noise clips at least this long")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    build(args.speech, args.noise, args.out, args.snr_low, args.snr_high, args.min_seconds, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
