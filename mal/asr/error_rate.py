"""Word and character error counts (``jiwer``) per utterance, and set-level rates from them.

The set-level rate is ``100 * total errors / total reference length``: long utterances weigh
more, as in sclite and Kaldi's ``compute-wer``; it is *not* the mean of per-utterance rates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional


@dataclass(frozen=True)
class ErrorCounts:
    """Edit operations turning a reference into a hypothesis, and the reference length."""

    substitutions: int
    deletions: int
    insertions: int
    length: int  # reference words (WER) or characters (CER)

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> Optional[float]:
        """Error rate in %; None for an empty reference (undefined)."""
        return 100.0 * self.errors / self.length if self.length else None

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.length + other.length,
        )


ZERO = ErrorCounts(0, 0, 0, 0)


def word_errors(reference: str, hypothesis: str) -> ErrorCounts:
    """Word-level counts of two normalised transcripts (words split on whitespace)."""
    ref, hyp = reference.split(), hypothesis.split()
    if not ref:
        return ErrorCounts(0, 0, len(hyp), 0)
    if not hyp:
        return ErrorCounts(0, len(ref), 0, len(ref))
    import jiwer  # the 'asr' extra: imported on use, so mal.asr imports without it

    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, len(ref))


def char_errors(reference: str, hypothesis: str) -> ErrorCounts:
    """Character-level counts of two normalised transcripts; single spaces between words count
    as characters (a split or merged word costs one edit)."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    if not ref:
        return ErrorCounts(0, 0, len(hyp), 0)
    if not hyp:
        return ErrorCounts(0, len(ref), 0, len(ref))
    import jiwer

    out = jiwer.process_characters(ref, hyp)
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, len(ref))


def total(counts: Iterable[ErrorCounts]) -> ErrorCounts:
    """Sum of per-utterance counts; its ``rate`` is the set-level error rate."""
    result = ZERO
    for c in counts:
        result = result + c
    return result
