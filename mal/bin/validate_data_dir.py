"""mal-validate-data-dir DATA_DIR [--sample-rate 16000] [--no-audio]: list a data dir's problems."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from mal.io.validate import validate_data_dir


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mal-validate-data-dir",
        description="Check a Kaldi-style data dir (tables, keys, audio). Prints one line per problem "
        "(file:line: key '...': what) and exits 1, or exits 0 when the dir is usable.",
    )
    parser.add_argument("data_dir", help="data directory holding wav.scp (and spk1.scp, utt2spk, ...)")
    parser.add_argument("--sample-rate", type=int, default=None, help="every audio entry must have this rate (Hz)")
    parser.add_argument(
        "--no-audio",
        action="store_true",
        help="do not decode audio: read plain files' headers only (no NaN check) and do not run pipes",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing when the dir is valid")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    problems = validate_data_dir(args.data_dir, sample_rate=args.sample_rate, check_audio=not args.no_audio)
    for problem in problems:
        print(problem)
    if problems:
        print(f"mal-validate-data-dir: {len(problems)} problem(s) in {args.data_dir}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"mal-validate-data-dir: {args.data_dir} is valid", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
