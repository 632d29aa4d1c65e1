"""mal-score: per-utterance metrics of enhanced (or noisy) audio, Kaldi style.

    mal-score --ref-scp data/test/spk1.scp --est-scp EST/wav.scp --out-dir DIR \\
        [--key-file keys.scp] [--metrics pesq_wb,stoi,...]
    mal-score --summarize DIR

writes ``DIR/<metric>`` ("key value") for each metric and ``DIR/failed`` ("key metric reason").
Split utterances over jobs with ``--key-file`` and merge the outputs with ``cat | sort``.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Dict, List, Optional

import yaml

from mal.io.scp import read_scp
from mal.progress import progress
from mal.score.metrics import ALL_METRICS, DEFAULT_LENGTH_TOLERANCE, needs_reference, parse_metrics, score_tables
from mal.score.partial import PartialScores
from mal.score.summary import write_scores, write_summary

DEFAULT_METRICS = ",".join(ALL_METRICS)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mal-score",
        description="Score enhanced audio per utterance: one Kaldi-style file per metric plus 'failed'.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--ref-scp", help="reference (clean) wav.scp; optional for non-intrusive metrics only")
    parser.add_argument("--est-scp", help="wav.scp of the audio to score (enhanced or noisy)")
    parser.add_argument("--out-dir", help="where <metric> and 'failed' files are written")
    parser.add_argument("--key-file", help="score only the keys of this scp-style file (one job's share)")
    parser.add_argument("--metrics", default=DEFAULT_METRICS, help="comma-separated metric names")
    parser.add_argument(
        "--length-tolerance", type=int, default=DEFAULT_LENGTH_TOLERANCE,
        help="samples by which reference and estimate may differ (both are trimmed); more is an error",
    )
    parser.add_argument("--sample-rate", type=int, help="resample every signal to this rate first (default: keep)")
    parser.add_argument("--summarize", metavar="DIR", help="only write DIR/summary.yaml from DIR's score files")
    parser.add_argument(
        "--allow-missing", action="store_true",
        help="warn, instead of failing, when the estimate scp lacks keys of the reference (without --key-file)",
    )
    return parser


def check_missing(references: Dict[str, str], estimates: Dict[str, str], args: argparse.Namespace) -> None:
    """Reference keys without an estimate fail the run (naming them), or only warn with --allow-missing."""
    unknown = next((key for key in estimates if key not in references), None)
    if unknown is not None:
        raise ValueError(f"{args.ref_scp}: key '{unknown}' missing")
    missing = [key for key in references if key not in estimates]
    if not missing:
        return
    shown = ", ".join(f"'{k}'" for k in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    message = f"{args.est_scp}: {len(missing)} of the {len(references)} keys of {args.ref_scp} missing: {shown}"
    if not args.allow_missing:
        raise ValueError(f"{message} (--allow-missing scores the others)")
    logging.warning("%s; scoring the other %d (--allow-missing)", message, len(references) - len(missing))


def _summarize(directory: str) -> int:
    try:
        content = write_summary(directory)
    except (ValueError, OSError) as e:
        print(f"mal-score: error: {e}", file=sys.stderr)
        return 1
    yaml.safe_dump(content, sys.stdout, sort_keys=False)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mal-score %(levelname)s %(message)s")
    if args.summarize:
        return _summarize(args.summarize)
    if not args.est_scp or not args.out_dir:
        parser.error("--est-scp and --out-dir are required (or --summarize DIR)")
    partial = PartialScores(args.out_dir)
    try:
        metrics = parse_metrics(args.metrics)
        if needs_reference(metrics) and not args.ref_scp:
            intrusive = ",".join(m for m in metrics if needs_reference([m]))
            parser.error(f"metrics {intrusive} need --ref-scp")
        estimates = read_scp(args.est_scp)
        references = read_scp(args.ref_scp) if args.ref_scp and needs_reference(metrics) else None
        keys = list(read_scp(args.key_file)) if args.key_file else None
        if references is not None and keys is None:
            check_missing(references, estimates, args)
        scores: Dict[str, Dict[str, float]] = {}
        failures: Dict[str, Dict[str, str]] = {}
        start = time.time()
        logging.info("scores so far: %s", partial.path)
        table = score_tables(
            estimates, metrics, references, keys, args.sample_rate, args.length_tolerance,
            est_name=args.est_scp, ref_name=args.ref_scp or "",
        )
        for key, values, failed in progress(table, total=len(keys if keys is not None else estimates), desc="mal-score"):
            partial.add(key, values, failed)
            scores[key] = values
            if failed:
                failures[key] = failed
                for metric, reason in failed.items():
                    logging.warning("%s %s failed: %s", key, metric, reason)
        write_scores(args.out_dir, metrics, scores, failures)
        partial.close(remove=True)
    except (ValueError, KeyError, OSError) as e:
        partial.close(remove=True)
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"mal-score: error: {message}", file=sys.stderr)
        return 1
    seconds = time.time() - start
    count = len(scores)
    logging.info(
        "scored %d utterances on %d metrics in %.1f s (%.2f s/utt); %d metric failures; wrote %s",
        count, len(metrics), seconds, seconds / max(count, 1), sum(len(f) for f in failures.values()), args.out_dir,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
