"""mal-average-checkpoints: average the weights of checkpoints of one model into a new model.pth."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from mal.models.checkpoint import CheckpointError
from mal.train.average import write_average


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mal-average-checkpoints",
        description="Average the weights of checkpoints of one model into a new model.pth.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="output checkpoint (written atomically)")
    parser.add_argument("checkpoints", nargs="+", help="epoch<N>.pth / model.pth files of the same model")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        out = write_average(args.checkpoints, args.out)
    except CheckpointError as e:
        print(f"mal-average-checkpoints: error: {e}", file=sys.stderr)
        return 1
    print(f"mal-average-checkpoints: averaged {len(args.checkpoints)} checkpoints into {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
