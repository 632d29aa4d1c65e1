"""mal-asr-score: downstream ASR check; word and character error rates of (enhanced) speech.

    mal-asr-score --est-scp EST/wav.scp --text data/test/text --out-dir DIR \\
        [--key-file keys.scp] [--recognizer pocketsphinx] [--recognizer-conf '{lw: 8.0}']

writes ``DIR/wer`` and ``DIR/cer`` (``key value`` in %), ``DIR/wer.counts`` and ``DIR/cer.counts``
(``key errors length``: mal-score --summarize and mal-report show total errors / total length),
``DIR/hyp.txt``, ``DIR/hyp.trn``, ``DIR/ref.trn`` and ``DIR/asr.failed``. Split utterances over
jobs with ``--key-file`` and merge every file with ``cat | sort``. The decoding cost (CPU seconds
per second of audio) is logged.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from typing import List, Optional

import yaml

from mal.asr import RECOGNIZER_REGISTRY, build_recognizer
from mal.asr.error_rate import total
from mal.asr.scoring import DecodingCost, transcribe_and_score, write_asr_scores
from mal.asr.transcripts import read_transcripts
from mal.io.scp import read_scp
from mal.progress import progress
from mal.yaml_strict import load_yaml


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mal-asr-score",
        description="Transcribe audio with an offline recogniser and score WER/CER against a Kaldi 'text' file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--est-scp", required=True, help="wav.scp of the audio to transcribe (enhanced, noisy or clean)")
    parser.add_argument("--text", required=True, help="reference transcripts, Kaldi 'text' ('<key> <words>')")
    parser.add_argument("--out-dir", required=True, help="where wer, cer, *.counts, hyp.txt, *.trn, asr.failed go")
    parser.add_argument("--key-file", help="transcribe only the keys of this scp-style file (one job's share)")
    parser.add_argument(
        "--recognizer", default="pocketsphinx",
        help=f"a registered recogniser ({', '.join(sorted(RECOGNIZER_REGISTRY))}) or 'package.module:Class'",
    )
    parser.add_argument(
        "--recognizer-conf", default="{}",
        help="YAML mapping of the recogniser's keyword options, e.g. '{lw: 8.0}' for pocketsphinx",
    )
    return parser


def _recognizer_conf(text: str) -> dict:
    conf = load_yaml(text) if text.strip() else {}  # a key written twice is an error
    if conf is None:
        return {}
    if not isinstance(conf, dict):
        raise ValueError(f"--recognizer-conf: expected a YAML mapping such as '{{lw: 8.0}}', got {text!r}")
    return conf


def missing_extra(recognizer: str) -> List[str]:
    """The 'asr' extra's packages this run needs that do not import."""
    missing = []
    for name in ("jiwer", "num2words") + (("pocketsphinx",) if recognizer == "pocketsphinx" else ()):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    missing = missing_extra(args.recognizer)
    if missing:
        print(f"mal-asr-score: error: needs the 'asr' extra (missing {', '.join(missing)}): pip install 'mal[asr]'", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mal-asr-score %(levelname)s %(message)s")
    cost = DecodingCost()
    try:
        transcripts = read_transcripts(args.text)
        estimates = read_scp(args.est_scp)
        keys = list(read_scp(args.key_file)) if args.key_file else None
        conf = _recognizer_conf(args.recognizer_conf)
        start = time.perf_counter()
        recognizer = build_recognizer(args.recognizer, **conf)
        logging.info("recognizer %s %s ready in %.1f s", args.recognizer, conf or "", time.perf_counter() - start)
        results = []
        scored = transcribe_and_score(estimates, transcripts, recognizer, keys, cost, est_name=args.est_scp, text_name=args.text)
        for result in progress(scored, total=len(keys if keys is not None else estimates), desc="mal-asr-score"):
            results.append(result)
            logging.info("%s WER %s HYP: %s", result.key, _percent(result.words.rate), result.hypothesis)
        write_asr_scores(args.out_dir, results)
    except (ValueError, KeyError, TypeError, OSError, RuntimeError, yaml.YAMLError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"mal-asr-score: error: {message}", file=sys.stderr)
        return 1
    words, chars = total(r.words for r in results), total(r.chars for r in results)
    logging.info(
        "%d utterances: WER %s (%d errors: %d sub, %d del, %d ins / %d words), CER %s (%d / %d characters)",
        len(results), _percent(words.rate), words.errors, words.substitutions, words.deletions, words.insertions,
        words.length, _percent(chars.rate), chars.errors, chars.length,
    )
    logging.info(
        "decoding cost: %.1f s of audio in %.1f CPU s (%.2f s per second of audio; wall %.2f); wrote %s",
        cost.audio_seconds, cost.cpu_seconds, cost.cpu_per_audio_second, cost.wall_per_audio_second, args.out_dir,
    )
    return 0


def _percent(rate: Optional[float]) -> str:
    return "undefined" if rate is None else f"{rate:.2f}%"


if __name__ == "__main__":
    sys.exit(main())
