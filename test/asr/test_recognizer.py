"""PocketSphinx on flite speech: clean speech is recognised far better than the same speech
mixed at 0 dB with white noise or babble; results do not depend on the decoding order."""
from __future__ import annotations

import numpy as np
import pytest
from asr_data import SENTENCES, FixedRecognizer

from mal.asr import build_recognizer, normalize_text, recognizer_class, total, word_errors


def _errors(recognizer, signals):
    hyps = {key: recognizer.transcribe(wav, 16000) for key, wav in signals.items()}
    return {k: word_errors(normalize_text(SENTENCES[k][1]), normalize_text(h)) for k, h in hyps.items()}, hyps


def test_clean_wer_is_far_below_noisy_wer(recognizer, signals):
    clean, clean_hyps = _errors(recognizer, signals["clean"])
    noisy, noisy_hyps = _errors(recognizer, signals["noisy"])
    clean_wer, noisy_wer = total(clean.values()).rate, total(noisy.values()).rate
    print(f"WER clean {clean_wer:.1f}%, 0 dB white/babble {noisy_wer:.1f}%: {clean_hyps} {noisy_hyps}")
    assert clean_wer <= 20.0, clean_hyps
    assert noisy_wer >= clean_wer + 40.0, noisy_hyps
    for key in SENTENCES:  # white noise (utt1) and babble (utt2, utt3) each hurt
        assert noisy[key].rate > clean[key].rate, (key, noisy_hyps[key])
    # Decoding an utterance again after others gives the same words (no state carried over).
    assert recognizer.transcribe(signals["noisy"]["utt1"], 16000) == noisy_hyps["utt1"]


def test_other_sample_rates_are_resampled(recognizer, signals):
    import soxr

    wav = signals["clean"]["utt2"]
    at_22k = soxr.resample(wav, 16000, 22050).astype(np.float32)
    hyp = recognizer.transcribe(at_22k, 22050)
    assert word_errors(normalize_text(SENTENCES["utt2"][1]), normalize_text(hyp)).rate <= 20.0, hyp


def test_registry_and_plugins():
    assert recognizer_class("pocketsphinx").__name__ == "PocketSphinxRecognizer"
    plugin = build_recognizer("asr_data:FixedRecognizer", text="hello")
    assert isinstance(plugin, FixedRecognizer) and plugin.transcribe(np.zeros(160, np.float32), 16000) == "hello"
    with pytest.raises(KeyError, match="unknown recognizer 'nope'.*pocketsphinx"):
        build_recognizer("nope")
    with pytest.raises(KeyError, match="no class Missing"):
        build_recognizer("asr_data:Missing")
    with pytest.raises(TypeError, match="recognizer 'asr_data:FixedRecognizer': bad configuration"):
        build_recognizer("asr_data:FixedRecognizer", wrong=1)


def test_bad_pocketsphinx_option_is_a_clear_error():
    with pytest.raises((ValueError, TypeError), match="pocketsphinx"):
        build_recognizer("pocketsphinx", no_such_option=1)
