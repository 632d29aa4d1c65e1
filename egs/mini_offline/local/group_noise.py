#!/usr/bin/env python3
"""Subset and regroup a noise pool data dir for dynamic mixing.

Dynamic mixing draws a noise *kind* uniformly, then a clip of it (mal/train/dynamic_mixing.py), so
a pool's ``utt2category`` sets what training hears. The large pool has about 600 fine kinds, most
of them short one-shot effects: drawn by kind, they crowd out everything else. This writes a copy
of the pool (``wav.scp``, ``utt2category``, ``utt2dur``, ``utt2source``) that keeps only clips of
at least ``--min-seconds`` and, with ``--group source``, makes each source package one kind (every
music clip the kind ``music``), so that combined with another pool the two are drawn in the ratio of
their kinds. The input dir is never written.

    local/group_noise.py --in data/noise_large/pool_train --out data/full/noise_pool_long \\
        --min-seconds 3 --group source
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from mal.io import read_scp, write_scp  # noqa: E402

TABLES = ("wav.scp", "utt2category", "utt2dur", "utt2source")
MUSIC_PREFIX = "music-"


def group_of(category: str, source: str, group: str) -> str:
    if group == "kind":
        return category
    return "music" if category.startswith(MUSIC_PREFIX) else source


def regroup(src: Path, dst: Path, min_seconds: float, group: str) -> Dict[str, int]:
    """Write the subset of ``src`` into ``dst``; returns {kind: clips}."""
    if dst.resolve() == src.resolve():
        raise SystemExit(f"group_noise.py: --out {dst} is the input dir")
    tables = {}
    for name in TABLES:
        path = src / name
        if not path.is_file():
            raise SystemExit(f"group_noise.py: {path}: file not found")
        tables[name] = read_scp(path)
    keys = sorted(tables["wav.scp"])
    for name in TABLES[1:]:
        missing = [k for k in keys if k not in tables[name]]
        if missing:
            raise SystemExit(f"group_noise.py: {src / name}: no entry for clip '{missing[0]}'")
    durations = {}
    for key in keys:
        try:
            durations[key] = float(tables["utt2dur"][key])
        except ValueError:
            raise SystemExit(f"group_noise.py: {src / 'utt2dur'}: clip '{key}': not a number: {tables['utt2dur'][key]!r}") from None
    kept = [k for k in keys if durations[k] >= min_seconds]
    if not kept:
        raise SystemExit(f"group_noise.py: {src}: no clip of at least {min_seconds:g} s")
    categories = {k: group_of(tables["utt2category"][k], tables["utt2source"][k], group) for k in kept}
    dst.mkdir(parents=True, exist_ok=True)
    write_scp(dst / "wav.scp", {k: tables["wav.scp"][k] for k in kept})
    write_scp(dst / "utt2category", categories)
    write_scp(dst / "utt2dur", {k: tables["utt2dur"][k] for k in kept})
    write_scp(dst / "utt2source", {k: tables["utt2source"][k] for k in kept})
    counts: Dict[str, int] = {}
    for k in kept:
        counts[categories[k]] = counts.get(categories[k], 0) + 1
    minutes = sum(durations[k] for k in kept) / 60
    print(f"group_noise.py: {dst}: {len(kept)} of {len(keys)} clips ({minutes:.1f} min), {len(counts)} kinds")
    return counts


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in", dest="src", required=True, type=Path, help="a noise pool data dir (local/make_noise_pool.py)")
    parser.add_argument("--out", required=True, type=Path, help="the new data dir")
    parser.add_argument("--min-seconds", type=float, default=0.0, help="keep clips at least this long")
    parser.add_argument("--group", choices=("kind", "source"), default="kind",
                        help="kind: keep utt2category; source: one kind per package, music one kind")
    args = parser.parse_args(argv)
    regroup(args.src, args.out, args.min_seconds, args.group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
