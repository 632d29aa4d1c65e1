"""mal-pack-model: pack model.pth, config.yaml and RESULTS.md into one verified model.tar.gz."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from mal.models.checkpoint import CheckpointError
from mal.models.pack import pack_model


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mal-pack-model",
        description="Pack model.pth, config.yaml and RESULTS.md into one verified model.tar.gz.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="model.pth written by mal-train")
    parser.add_argument("--config", required=True, help="the config.yaml of that run")
    parser.add_argument("--results", default=None, help="RESULTS.md to include (optional)")
    parser.add_argument("--out", required=True, help="archive to write, e.g. model.tar.gz")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        out = pack_model(args.model, args.config, args.out, results=args.results)
    except CheckpointError as e:
        print(f"mal-pack-model: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # an input that cannot be read (pack_model names the --out path itself)
        print(f"mal-pack-model: error: {e}", file=sys.stderr)
        return 1
    print(f"mal-pack-model: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
