"""mal-compute-lengths DATA_DIR [--sample-rate 16000]: write DATA_DIR/utt2num_samples atomically."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from mal.io.audio import AudioError
from mal.io.datadir import DataDirError
from mal.io.lengths import write_utt2num_samples
from mal.io.scp import ScpError


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mal-compute-lengths",
        description="Write DATA_DIR/utt2num_samples (utterance length in samples) from the audio "
        "headers of wav.scp (cut by segments when present); pipes and ark entries are decoded.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("data_dir", help="data directory holding wav.scp")
    parser.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        help="count samples at this rate (audio at another rate counts as resampled to it)",
    )
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        out = write_utt2num_samples(args.data_dir, sample_rate=args.sample_rate)
    except (AudioError, DataDirError, ScpError) as e:
        print(f"mal-compute-lengths: {e}", file=sys.stderr)
        return 1
    print(f"mal-compute-lengths: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
