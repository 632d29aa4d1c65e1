"""python -m mal.bin.check_same_steps NAME=CONFIG...: the fine-tuning systems of a recipe must run
the same number of optimiser steps (``train.max_steps`` set, and equal, in every YAML) to be
comparable. mal.sh runs it before stage 4 with the recipe's ``--train_args`` as ``--override``
(they apply to every system, so they change the number every system runs); it prints the
effective common number or fails naming the configs' values.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional, Sequence

import yaml

from mal.train.overrides import apply_override
from mal.yaml_strict import load_yaml, yaml_error_line


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mal.bin.check_same_steps",
        description="Check that every fine-tuning config sets the same train.max_steps.",
    )
    parser.add_argument("systems", nargs="+", metavar="NAME=CONFIG", help="a system name and its training YAML")
    parser.add_argument("--override", nargs="+", action="extend", default=[], metavar="KEY.SUB=VALUE",
                        help="mal-train --override strings every system gets (train.max_steps=3 changes the steps)")
    return parser


def max_steps_of(path: str, overrides: Sequence[str] = ()) -> Optional[int]:
    """``train.max_steps`` of a training YAML with ``overrides`` applied (None when it is not set)."""
    try:
        with open(path, encoding="utf-8") as f:
            given = load_yaml(f) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {yaml_error_line(e)}") from None
    if not isinstance(given, dict):
        raise ValueError(f"{path}: expected a YAML mapping at the top level")
    for text in overrides:
        apply_override(given, text)  # a ConfigError (ValueError) names the override
    train = given.get("train")
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
            steps[name] = max_steps_of(path, args.override)
        except ValueError as e:
            print(f"check_same_steps: error: {e}", file=sys.stderr)
            return 1
    if None in steps.values() or len(set(steps.values())) != 1:
        print(f"fine-tuning systems must set the same train.max_steps to be comparable: {steps}", file=sys.stderr)
        return 1
    given = f" (with --override {' '.join(args.override)})" if args.override else ""
    print(f"all fine-tuning systems run {next(iter(steps.values()))} steps{given}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
