"""mal-validate-data-dir DATA_DIR [--sample-rate 16000] [--headers-only | --no-audio]: list a data dir's problems."""
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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("data_dir", help="data directory holding wav.scp (and spk1.scp, utt2spk, ...)")
    parser.add_argument("--sample-rate", type=int, default=None, help="every audio entry must have this rate (Hz)")
    audio = parser.add_mutually_exclusive_group()
    audio.add_argument(
        "--headers-only",
        action="store_true",
        help="do not decode audio: read plain files' headers only (no NaN check) and do not run pipes",
    )
    audio.add_argument("--no-audio", action="store_true", help="check the tables only: open no audio file (as Kaldi)")
    parser.add_argument("--quiet", action="store_true", help="print nothing when the dir is valid")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    problems = validate_data_dir(args.data_dir, sample_rate=args.sample_rate,
                                 check_audio=not args.headers_only, open_audio=not args.no_audio)
    for problem in problems:
        print(problem)
    if problems:
        missing = sum(p.endswith(": file not found") or ": ark file " in p for p in problems)
        hint = (f"; {missing} name an audio file that does not exist (audio is checked by default; "
                "--no-audio checks the tables only)") if missing and not args.no_audio else ""
        print(f"mal-validate-data-dir: {len(problems)} problem(s) in {args.data_dir}{hint}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"mal-validate-data-dir: {args.data_dir} is valid", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
