"""Transcribe a wav.scp, score WER/CER against ``text``, write Kaldi-style score files.

Files written into ``out_dir`` (each sorted by key, atomically; jobs merge with ``cat | sort``):

- ``wer``, ``cer``: ``key value`` per utterance, in % (columns of RESULTS.md via mal.score.summary);
- ``wer.counts``, ``cer.counts``: ``key errors length`` (reference words / characters), from
  which mal.score.summary computes the set-level rate: total errors / total length;
- ``hyp.txt``: the recogniser's raw output, Kaldi ``text`` format;
- ``hyp.trn``, ``ref.trn``: the normalised hypothesis and reference, ``WORDS (key)`` per line
  (sclite's ``trn`` format, for alignments; after a ``cat | sort`` merge the lines are in text
  order, not key order: match them by the ``(key)``);
- ``asr.failed``: ``key metric reason`` for utterances whose rate is undefined (a reference that
  is empty after normalisation; its insertions still count in the set-level rate).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from mal.asr.abs_recognizer import AbsRecognizer
from mal.asr.error_rate import ErrorCounts, char_errors, word_errors
from mal.asr.normalize import normalize_text
from mal.io.atomic import atomic_open
from mal.io.audio import read_audio
from mal.score.summary import COUNTS_SUFFIX, FAILED_SUFFIX, format_value

PathLike = Union[str, os.PathLike]
WER, CER = "wer", "cer"
ASR_FAILED = "asr" + FAILED_SUFFIX


@dataclass(frozen=True)
class UtteranceResult:
    """One utterance's hypothesis and its word and character error counts."""

    key: str
    hypothesis: str  # raw recogniser output
    reference_norm: str
    hypothesis_norm: str
    words: ErrorCounts
    chars: ErrorCounts


@dataclass
class DecodingCost:
    """Audio decoded and the recogniser's time on it (audio reading excluded)."""

    audio_seconds: float = 0.0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    utterances: int = 0

    @property
    def cpu_per_audio_second(self) -> float:
        return self.cpu_seconds / self.audio_seconds if self.audio_seconds else 0.0

    @property
    def wall_per_audio_second(self) -> float:
        return self.wall_seconds / self.audio_seconds if self.audio_seconds else 0.0


def score_utterance(key: str, reference: str, hypothesis: str) -> UtteranceResult:
    """Normalise both transcripts alike and count word and character errors."""
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    return UtteranceResult(key, " ".join(hypothesis.split()), ref, hyp, word_errors(ref, hyp), char_errors(ref, hyp))


def transcribe_and_score(
    estimates: Mapping[str, str],
    transcripts: Mapping[str, str],
    recognizer: AbsRecognizer,
    keys: Optional[Sequence[str]] = None,
    cost: Optional[DecodingCost] = None,
    est_name: str = "wav.scp",
    text_name: str = "text",
) -> Iterator[UtteranceResult]:
    """Transcribe every key (default: all of ``estimates``) and score it; adds to ``cost``.

    A key missing from a table, unreadable audio or a failing recogniser raise an error naming
    the table and the utterance.
    """
    cost = cost if cost is not None else DecodingCost()
    for key in list(keys) if keys is not None else list(estimates):
        if key not in estimates:
            raise KeyError(f"{est_name}: key '{key}' missing")
        if key not in transcripts:
            raise KeyError(f"{text_name}: no transcript for utterance '{key}'")
        wav, rate = read_audio(estimates[key], key=key)
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            hypothesis = recognizer.transcribe(wav, rate)
        except Exception as e:
            raise RuntimeError(f"{est_name}: utterance '{key}': recognizer failed: {e}") from e
        if not isinstance(hypothesis, str):
            raise TypeError(f"{est_name}: utterance '{key}': recognizer returned {type(hypothesis).__name__}, not str")
        cost.cpu_seconds += time.process_time() - cpu
        cost.wall_seconds += time.perf_counter() - wall
        cost.audio_seconds += len(wav) / rate
        cost.utterances += 1
        yield score_utterance(key, transcripts[key], hypothesis)


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with atomic_open(path) as f:
        for line in lines:
            f.write(line + "\n")


def write_asr_scores(out_dir: PathLike, results: Sequence[UtteranceResult]) -> None:
    """Write the files listed in the module docstring (sorted by key)."""
    out_dir = Path(out_dir)
    ordered: List[UtteranceResult] = sorted(results, key=lambda r: r.key)
    failures: Dict[str, List[str]] = {}
    for metric, field in ((WER, "words"), (CER, "chars")):
        counts = [(r.key, getattr(r, field)) for r in ordered]
        _write_lines(out_dir / metric, (f"{k} {format_value(c.rate)}" for k, c in counts if c.rate is not None))
        _write_lines(out_dir / f"{metric}{COUNTS_SUFFIX}", (f"{k} {c.errors} {c.length}" for k, c in counts))
        for k, c in counts:
            if c.rate is None:
                failures.setdefault(k, []).append(f"{k} {metric} empty reference after text normalisation")
    _write_lines(out_dir / "hyp.txt", (f"{r.key} {r.hypothesis}".rstrip() for r in ordered))
    _write_lines(out_dir / "hyp.trn", (f"{r.hypothesis_norm} ({r.key})".lstrip() for r in ordered))
    _write_lines(out_dir / "ref.trn", (f"{r.reference_norm} ({r.key})".lstrip() for r in ordered))
    _write_lines(out_dir / ASR_FAILED, (line for key in sorted(failures) for line in failures[key]))
