"""mal-report: RESULTS.md (ESPnet style) and a static listening page from a scores tree.

    mal-report --results-md RESULTS.md --scores-root exp/scores [--page-dir exp/report] \\
        [--data-root data] [--enhanced-root exp/enhanced] [--num-utts 3] [--exp-dir exp/<tag>] \\
        [--paired "mal=continued mal_seed2=continued_seed2"]

Scores: ``<scores-root>/<test_set>/<system>/<metric>``; audio: ``<data-root>/<test_set>/{wav,spk1}.scp``
and ``<enhanced-root>/<test_set>/<system>/wav.scp`` (system ``noisy`` is the input).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from mal.score.page import build_page
from mal.score.paired import paired_differences, parse_pairs, render_paired
from mal.score.results_md import collect_results, write_results_md
from mal.score.summary import ScoresError


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mal-report",
        description="Write RESULTS.md and a listening page (audio, spectrograms, scores) from mal-score outputs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--results-md", required=True, help="RESULTS.md to write (atomically)")
    parser.add_argument("--scores-root", required=True, help="directory of <test_set>/<system>/<metric> files")
    parser.add_argument("--page-dir", help="write the listening page here (index.html, audio/, img/)")
    parser.add_argument("--data-root", help="directory of <test_set>/ data dirs (wav.scp = noisy, spk1.scp = clean)")
    parser.add_argument("--enhanced-root", help="directory of <test_set>/<system>/wav.scp enhanced audio")
    parser.add_argument("--num-utts", type=int, default=3, help="utterances per test set on the listening page")
    parser.add_argument("--exp-dir", help="directory of <system>/log.csv: loss curves of the trained systems on the page")
    parser.add_argument(
        "--systems", default="",
        help="comma-separated display order of systems after 'noisy' (others follow alphabetically)",
    )
    parser.add_argument(
        "--paired", default="",
        help="systems trained in pairs, 'a=b c=d': a section of paired differences a-b, mean +- s.e. over the pairs",
    )
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mal-report %(levelname)s %(message)s")
    order = [s for s in args.systems.split(",") if s]
    try:
        results = collect_results(args.scores_root, order)
        pairs = parse_pairs(args.paired)
        paired_lines = render_paired(paired_differences(results, pairs), pairs) if pairs else []
        index = None
        if args.page_dir:
            index = build_page(args.page_dir, results, args.data_root, args.enhanced_root, args.num_utts, exp_dir=args.exp_dir)
            logging.info("wrote %s", index)
        write_results_md(args.results_md, results, args.scores_root, index, extra_lines=paired_lines)
    except (ScoresError, FileNotFoundError, ValueError) as e:
        print(f"mal-report: error: {e}", file=sys.stderr)
        return 1
    logging.info("wrote %s (%d test sets)", args.results_md, len(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
