"""mal-self-consistency: enhance the enhanced output again, k times, and report metric drift.

    mal-self-consistency --model exp/x/model.pth --wav-scp data/test/wav.scp \\
        --ref-scp data/test/spk1.scp --passes 3 --out-dir DIR [--metrics pesq_wb,estoi,sisdr]

Writes DIR/drift.csv, DIR/drift.md, DIR/drift.png, DIR/scores.csv and DIR/failed.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

import torch

from mal.bin.enhance import add_model_options, options_from_args
from mal.enhance.inference import Enhancer
from mal.enhance.self_consistency import DEFAULT_METRICS, drift_markdown, self_consistency, write_report


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mal-self-consistency",
        description="Feed a model's output back through it k times; score each pass against the clean reference.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help="model.pth or packed model archive")
    p.add_argument("--wav-scp", required=True, help="noisy input wav.scp")
    p.add_argument("--ref-scp", required=True, help="clean reference scp (spk1.scp)")
    p.add_argument("--passes", type=int, default=3, help="how many times the model is applied")
    p.add_argument("--out-dir", required=True, help="where drift.csv/.md/.png go")
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated mal.score metric names")
    p.add_argument("--key-file", help="only these keys (first field of each line)")
    p.add_argument("--max-utterances", type=int, help="only the first N keys")
    add_model_options(p)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mal-self-consistency: %(message)s", stream=sys.stderr)
    torch.set_num_threads(max(1, args.num_threads))
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    try:
        enhancer = Enhancer.from_checkpoint(args.model, options_from_args(args), args.device)
        result = self_consistency(
            enhancer, args.wav_scp, args.ref_scp, args.passes, metrics, args.key_file, args.max_utterances
        )
        write_report(args.out_dir, result)
    except (ValueError, OSError, KeyError) as e:
        print(f"mal-self-consistency: error: {e}", file=sys.stderr)
        return 1
    print(drift_markdown(result), end="")
    if result.failures:
        print(f"{len(result.failures)} metric failures: see {args.out_dir}/failed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
