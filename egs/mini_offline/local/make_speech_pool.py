#!/usr/bin/env python
"""Build the large real clean-speech pool (see speech_pool.py) and print tables per source and set.

    local/make_speech_pool.py --out data/speech_large [--cache DIR] [--packages festvox-ru,...] [--seed 0]

Writes OUT/train, OUT/valid, OUT/test (wav.scp = spk1.scp of clean speech, utt2spk, spk2utt,
utt2dur, utt2num_samples, utt2source); the utterances stay in the cache (default
${MAL_CACHE:-~/.cache/mal}/speech_pool, beside the noise pool). A second run reuses every package
already extracted. Install the packages with ``make -C tools speech_pool``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speech_pool  # noqa: E402


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", required=True, help="parent of the train/valid/test data dirs")
    parser.add_argument("--cache", default=str(speech_pool.DEFAULT_CACHE), help="where the extracted utterances are kept")
    parser.add_argument("--packages", default=",".join(speech_pool.SOURCES), help="comma-separated source packages")
    parser.add_argument("--seed", type=int, default=0, help="seed of the speaker split and of the joining")
    parser.add_argument("--valid-share", type=float, default=0.05,
                        help="share of the minutes held out for valid (whole speaker groups, at least 3)")
    parser.add_argument("--test-share", type=float, default=0.05,
                        help="share of the minutes held out for test (whole speaker groups, at least 3)")
    parser.add_argument("--max-heldout-minutes", type=float, default=20.0,
                        help="a speaker group with more minutes always trains")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    names = [p.strip() for p in args.packages.split(",") if p.strip()]
    corpus = [p for p in names if p in speech_pool.CORPUS_PACKAGES]
    if corpus:
        print(f"make_speech_pool.py: --packages: '{corpus[0]}' is read by the corpus (local/real_speech.py), "
              "not by the speech pool", file=sys.stderr)
        return 2
    unknown = [p for p in names if p not in speech_pool.SOURCES]
    if unknown:
        print(f"make_speech_pool.py: --packages: unknown source '{unknown[0]}'; choose from "
              f"{', '.join(speech_pool.SOURCES)}", file=sys.stderr)
        return 2
    for option in ("valid_share", "test_share"):
        if not 0 <= getattr(args, option) < 0.5:
            print(f"make_speech_pool.py: --{option.replace('_', '-')}: {getattr(args, option)} is not in [0, 0.5)",
                  file=sys.stderr)
            return 2
    start = time.perf_counter()
    result = speech_pool.build([speech_pool.SOURCES[p] for p in names], Path(args.cache), Path(args.out),
                               seed=args.seed, valid=args.valid_share, test=args.test_share,
                               max_heldout_minutes=args.max_heldout_minutes, log=lambda line: print(line, flush=True))
    if result.missing:
        print(f"not installed (skipped): {', '.join(result.missing)}; install with: make -C tools speech_pool")
    print(f"extracted now: {', '.join(result.extracted) or 'nothing (all cached)'}; {time.perf_counter() - start:.0f} s")
    print("\n".join(speech_pool.summary(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
