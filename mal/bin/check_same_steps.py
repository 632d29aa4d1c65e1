"""python -m mal.bin.check_same_steps NAME=CONFIG...: the fine-tuning systems of a recipe must run
the same number of optimiser steps (``train.max_steps`` set, and equal, in every YAML) to be
comparable. mal.sh runs it before stage 4; it prints the common number or fails naming the
configs' values.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional

import yaml


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mal.bin.check_same_steps",
        description="Check that every fine-tuning config sets the same train.max_steps.",
    )
    parser.add_argument("systems", nargs="+", metavar="NAME=CONFIG", help="a system name and its training YAML")
    return parser


def max_steps_of(path: str) -> Optional[int]:
    """``train.max_steps`` of a training YAML as written (None when it is not set)."""
    try:
        with open(path, encoding="utf-8") as f:
            given = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    train = given.get("train") if isinstance(given, dict) else None
    return train.get("max_steps") if isinstance(train, dict) else None


def main(argv: Optional[List[str]] = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    steps: Dict[str, Optional[int]] = {}
    for pair in args.systems:
        if "=" not in pair:
            parser.error(f"expected NAME=CONFIG, got {pair!r}")
        name, path = pair.split("=", 1)
        try:
            steps[name] = max_steps_of(path)
        except ValueError as e:
            print(f"check_same_steps: error: {e}", file=sys.stderr)
            return 1
    if None in steps.values() or len(set(steps.values())) != 1:
        print(f"fine-tuning systems must set the same train.max_steps to be comparable: {steps}", file=sys.stderr)
        return 1
    print(f"all fine-tuning systems run {next(iter(steps.values()))} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
