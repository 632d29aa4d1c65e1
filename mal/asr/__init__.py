"""Downstream ASR check: transcribe enhanced speech and score WER/CER against ``text``.

Recognisers are chosen by a registry name or by ``"module:Class"`` (see
:class:`~mal.asr.abs_recognizer.AbsRecognizer` to plug in your own).
"""
from __future__ import annotations

import importlib
from typing import Any, Dict

from mal.asr.abs_recognizer import AbsRecognizer
from mal.asr.error_rate import ErrorCounts, char_errors, total, word_errors
from mal.asr.normalize import normalize_text

#: name -> "module:Class"; modules are imported on first use.
RECOGNIZER_REGISTRY: Dict[str, str] = {
    "pocketsphinx": "mal.asr.sphinx:PocketSphinxRecognizer",
}


def recognizer_class(name: str) -> type:
    """A registered name, or ``"package.module:Class"`` for a recogniser of your own."""
    spec = RECOGNIZER_REGISTRY.get(name, name)
    if ":" not in spec:
        raise KeyError(
            f"unknown recognizer '{name}'; choose one of: {', '.join(sorted(RECOGNIZER_REGISTRY))}, "
            "or give 'package.module:Class'"
        )
    module_name, class_name = spec.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise KeyError(f"recognizer '{name}': cannot import {module_name}: {e}") from None
    cls = getattr(module, class_name, None)
    if cls is None or not callable(getattr(cls, "transcribe", None)):
        raise KeyError(f"recognizer '{name}': {module_name} has no class {class_name} with a transcribe() method")
    return cls


def build_recognizer(name: str, **conf: Any) -> AbsRecognizer:
    """Instantiate a recogniser; unknown options fail with the recogniser's name."""
    cls = recognizer_class(name)
    try:
        return cls(**conf)
    except TypeError as e:
        raise TypeError(f"recognizer '{name}': bad configuration {conf}: {e}") from None


__all__ = [
    "AbsRecognizer",
    "ErrorCounts",
    "RECOGNIZER_REGISTRY",
    "build_recognizer",
    "char_errors",
    "normalize_text",
    "recognizer_class",
    "total",
    "word_errors",
]
