#!/usr/bin/env python
"""Build the large recorded training noise pool (see noise_pool.py) and print a table per set.

    local/make_noise_pool.py --out data/noise_large [--cache DIR] [--packages 0ad-data,...] [--seed 0]

Writes OUT/pool_train, OUT/pool_valid, OUT/pool_test (wav.scp, utt2category, utt2dur,
utt2source); the clips stay in the cache (default ${MAL_CACHE:-~/.cache/mal}/noise_pool). A
second run reuses every package already extracted. Install the packages with
``make -C tools noise_pool``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import noise_pool  # noqa: E402


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", required=True, help="parent of the pool_train/pool_valid/pool_test data dirs")
    parser.add_argument("--cache", default=str(noise_pool.DEFAULT_CACHE), help="where the extracted clips are kept")
    parser.add_argument("--packages", default=",".join(noise_pool.SOURCES), help="comma-separated source packages")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip split")
    parser.add_argument("--valid-share", type=float, default=0.05)
    parser.add_argument("--test-share", type=float, default=0.05)
    parser.add_argument("--max-seconds", type=float, default=noise_pool.Checks.max_seconds, help="longer clips are cut")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    names = [p.strip() for p in args.packages.split(",") if p.strip()]
    evaluation = [p for p in names if p in noise_pool.AMBIENT_TEST_PACKAGES]
    if evaluation:
        print(f"make_noise_pool.py: --packages: '{evaluation[0]}' is evaluation-only (test_ambient): refused", file=sys.stderr)
        return 2
    unknown = [p for p in names if p not in noise_pool.SOURCES]
    if unknown:
        print(f"make_noise_pool.py: --packages: unknown source '{unknown[0]}'; choose from {', '.join(noise_pool.SOURCES)}",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    result = noise_pool.build([noise_pool.SOURCES[p] for p in names], Path(args.cache), Path(args.out),
                              noise_pool.Checks(max_seconds=args.max_seconds), args.seed, args.valid_share,
                              args.test_share, log=lambda line: print(line, flush=True))
    if result.missing:
        print(f"not installed (skipped): {', '.join(result.missing)}; install with: make -C tools noise_pool")
    print(f"extracted now: {', '.join(result.extracted) or 'nothing (all cached)'}; {time.perf_counter() - start:.0f} s")
    print("\n".join(noise_pool.summary(result.sets)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
