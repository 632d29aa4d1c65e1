"""Downstream ASR check: transcribe enhanced speech and score WER/CER against ``text``.

Recognisers are chosen by a registry name or by ``"module:Class"`` (see
:class:`~mal.asr.abs_recognizer.AbsRecognizer` to plug in your own).
"""
from __future__ import annotations

from typing import Dict

from mal.asr.abs_recognizer import AbsRecognizer
from mal.asr.error_rate import ErrorCounts, char_errors, total, word_errors
from mal.asr.normalize import normalize_text
from mal.registry import Registry

#: name -> "module:Class"; modules are imported on first use.
RECOGNIZER_REGISTRY: Dict[str, str] = {
    "pocketsphinx": "mal.asr.sphinx:PocketSphinxRecognizer",
}


RECOGNIZERS: Registry[AbsRecognizer] = Registry("recognizer", AbsRecognizer, RECOGNIZER_REGISTRY, plugins=True)
#: A registered name, or ``"package.module:Class"`` for a recogniser of your own.
recognizer_class = RECOGNIZERS.get
#: Instantiate a recogniser; unknown options fail with the recogniser's name.
build_recognizer = RECOGNIZERS.build


__all__ = [
    "AbsRecognizer",
    "ErrorCounts",
    "RECOGNIZERS",
    "RECOGNIZER_REGISTRY",
    "build_recognizer",
    "char_errors",
    "normalize_text",
    "recognizer_class",
    "total",
    "word_errors",
]
