"""CMU PocketSphinx with the US-English acoustic model, dictionary and language model that ship
inside the ``pocketsphinx`` wheel (nothing is downloaded); 16 kHz input (other rates are
resampled). Noisy speech costs more CPU than clean speech (noise widens the search); measured
costs: bench/README.md, "Numbers the code refers to"."""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from mal.asr.abs_recognizer import AbsRecognizer
from mal.io.audio import resample

#: The rate of the packaged acoustic model.
MODEL_RATE = 16000
#: Alternative pronunciations in the output: ``the(2)``.
_VARIANT = re.compile(r"\(\d+\)$")


class PocketSphinxRecognizer(AbsRecognizer):
    """Large-vocabulary decoding with the packaged ``en-us`` models.

    Keyword options are PocketSphinx configuration parameters (``hmm``, ``lm``, ``dict`` for
    other models; ``lw``, ``beam``, ``wip``, ...), e.g. ``{lw: 8.0}``; the default logs only
    fatal errors.
    """

    def __init__(self, **config: Any):
        from pocketsphinx import Decoder

        config.setdefault("loglevel", "FATAL")
        try:
            self.decoder = Decoder(**config)
        except (RuntimeError, ValueError, KeyError) as e:
            raise ValueError(f"pocketsphinx: cannot start the decoder with {config}: {e}") from None
        self.sample_rate = int(float(self.decoder.config["samprate"]))

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise ValueError(f"pocketsphinx: expected mono audio [T], got shape {tuple(wav.shape)}")
        if sample_rate != self.sample_rate:
            wav = resample(wav, sample_rate, self.sample_rate)
        pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
        # Fresh feature state (cepstral mean) so that no utterance depends on the one before.
        self.decoder.reinit_feat()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        if hyp is None:
            return ""
        return " ".join(_VARIANT.sub("", word) for word in hyp.hypstr.split())
