"""The speech recogniser interface of the downstream ASR check.

To plug in your own recogniser, subclass :class:`AbsRecognizer` (its constructor may take any
keyword options) and implement :meth:`~AbsRecognizer.transcribe`; then select it by
``"your.module:YourClass"`` (``mal-asr-score --recognizer your.module:YourClass
--recognizer-conf '{beam: 10}'``) or add its name to ``mal.asr.RECOGNIZER_REGISTRY``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class AbsRecognizer(ABC):
    """A speech recogniser: one utterance of audio in, its transcript out."""

    @abstractmethod
    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        """Transcribe one utterance.

        Args:
            wav: mono float32 samples in [-1, 1], shape ``[T]``.
            sample_rate: rate of ``wav`` in Hz; resample inside if the model needs another.
        Returns:
            The words, separated by spaces (any case and punctuation: the scorer normalises
            both reference and hypothesis with :func:`mal.asr.normalize_text`). The result must
            not depend on previously transcribed utterances, so that splitting a set over jobs
            does not change it.
        """
