"""English sentences from the Debian ``fortunes`` package, cleaned for speech synthesis.

Why fortunes: it ships ~14,000 plain-text English sentences of everyday, literary and
humorous register (quotes, proverbs, jokes) under /usr/share/games/fortunes, installs in
seconds from Debian, needs no network at run time, and is varied enough that every set gets
its own sentences. Only the non-offensive ``fortunes`` package is used.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

FORTUNE_DIR = Path("/usr/share/games/fortunes")
#: Fortune files whose entries are not prose.
SKIPPED_FILES = frozenset({"ascii-art", "art", "translate-me", "perl", "linuxcookie", "zippy"})

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
#: A plain sentence: letters, spaces, commas and in-word apostrophes; ends with . ! or ?
_PLAIN = re.compile(r"^[A-Z][A-Za-z ,']*[a-z][.!?]$")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b")
_QUOTE_APOSTROPHE = re.compile(r"(^|\s)'|'(\s|,|$)")


class TextPoolError(RuntimeError):
    """The text source is missing or yields too few sentences."""


def _entries(path: Path) -> List[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [e for e in re.split(r"^%\s*$", text, flags=re.M) if e.strip()]


def _body(entry: str) -> str:
    """An entry without attribution lines (``-- Author``), on one line."""
    lines = [line.strip() for line in entry.splitlines()]
    lines = [line for line in lines if line and not line.startswith("--")]
    return re.sub(r"\s+", " ", " ".join(lines))


def is_plain_sentence(sentence: str, min_words: int = 5, max_words: int = 20) -> bool:
    """True for an ASCII sentence of ``min_words``..``max_words`` words a synthesizer reads as written."""
    if not _PLAIN.match(sentence) or _ACRONYM.search(sentence) or _QUOTE_APOSTROPHE.search(sentence):
        return False
    if ",," in sentence or " ," in sentence:
        return False
    return min_words <= len(sentence.split()) <= max_words


def transcript(sentence: str) -> str:
    """Kaldi-style transcript: upper-case words, punctuation other than apostrophes removed."""
    return " ".join(re.sub(r"[^A-Za-z' ]", " ", sentence).upper().split())


def load_sentences(fortune_dir: Path = FORTUNE_DIR, min_words: int = 5, max_words: int = 20) -> List[str]:
    """All distinct plain sentences of the fortune files, sorted (deterministic)."""
    files = sorted(p for p in fortune_dir.glob("*") if p.is_file() and not p.suffix and p.name not in SKIPPED_FILES)
    if not files:
        raise TextPoolError(
            f"{fortune_dir}: no fortune files; install the Debian package 'fortunes' "
            "(tools/installers/install_audio_tools.sh)"
        )
    by_transcript: Dict[str, str] = {}
    for path in files:
        for entry in _entries(path):
            for sentence in _SENTENCE_END.split(_body(entry)):
                sentence = sentence.strip()
                if is_plain_sentence(sentence, min_words, max_words):
                    by_transcript.setdefault(transcript(sentence), sentence)
    return sorted(by_transcript.values())


def partition(sentences: Sequence[str], fractions: Dict[str, float], seed: int) -> Dict[str, List[str]]:
    """Shuffle ``sentences`` with ``seed`` and cut them into disjoint named parts by fraction.

    The last name takes the remainder. Each part depends only on the seed and the sentence
    list, not on how many utterances a set asks for, so changing one set's size leaves the
    others' sentences unchanged.
    """
    order = np.random.default_rng([seed, 7]).permutation(len(sentences))
    shuffled = [sentences[i] for i in order]
    parts: Dict[str, List[str]] = {}
    start = 0
    names = list(fractions)
    for i, name in enumerate(names):
        end = len(shuffled) if i == len(names) - 1 else start + int(round(fractions[name] * len(shuffled)))
        parts[name] = shuffled[start:end]
        start = end
    for name, part in parts.items():
        if not part:
            raise TextPoolError(f"sentence pool too small: part '{name}' is empty ({len(sentences)} sentences)")
    return parts
