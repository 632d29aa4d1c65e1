"""mal.score.dnsmos: the speechmos ONNX model, without P.808, one session per process."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from helpers.audio import add_noise
from mal.score import dnsmos as dn
from mal.score.metrics import score_nonintrusive
from score_helpers import SAMPLE_RATE


def test_model_ships_inside_the_speechmos_wheel():
    path = dn.default_model_path()
    assert path.name == "sig_bak_ovr.onnx" and path.stat().st_size > 100_000


@pytest.mark.parametrize("seconds,count", [(1.0, 7), (2.77, 2), (9.5, 1), (20.0, 11)])
def test_clips_are_repeated_to_9_01_s_and_cut_every_second(seconds, count):
    audio = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float32)
    windows = dn.Dnsmos.windows(audio)
    assert windows.shape == (count, int(9.01 * SAMPLE_RATE))
    assert windows[0, 0] == 0 and windows[-1, 0] == (count - 1) * SAMPLE_RATE % len(audio)


def test_one_single_threaded_session_per_process():
    first = dn.get_dnsmos()
    assert dn.get_dnsmos() is first
    assert first.session.get_session_options().intra_op_num_threads == 1


def test_matches_speechmos_reference_implementation(monkeypatch):
    """speechmos' own DNSMOS class on the same clip (its P.808 branch stubbed: it needs librosa)."""
    monkeypatch.setitem(sys.modules, "librosa", types.ModuleType("librosa"))
    requests = types.ModuleType("requests")
    requests.session = None
    monkeypatch.setitem(sys.modules, "requests", requests)
    sys.modules.pop("speechmos.dnsmos", None)
    from speechmos.dnsmos import DNSMOS

    reference = DNSMOS.__new__(DNSMOS)
    reference.onnx_sess = dn.get_dnsmos().session
    reference.p808_onnx_sess = types.SimpleNamespace(run=lambda *a: [[[0.0]]])
    reference.audio_melspec = lambda audio: np.zeros((1, 1), dtype=np.float32)
    rng = np.random.default_rng(3)
    clip = (0.1 * rng.standard_normal(int(9.5 * SAMPLE_RATE))).astype(np.float32)  # one window: cheap
    expected = reference(clip, SAMPLE_RATE, False)
    ours = dn.dnsmos(clip, SAMPLE_RATE)
    sys.modules.pop("speechmos.dnsmos", None)
    assert ours["sig"] == pytest.approx(expected["sig_mos"], abs=1e-6)
    assert ours["bak"] == pytest.approx(expected["bak_mos"], abs=1e-6)
    assert ours["ovrl"] == pytest.approx(expected["ovrl_mos"], abs=1e-6)


def test_clean_speech_rates_higher_than_noisy_speech(speech):
    clean = speech["utt1"]
    failures = {}
    metrics = ["dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"]
    good = score_nonintrusive(clean, SAMPLE_RATE, metrics, failures=failures)
    bad = score_nonintrusive(add_noise(clean, 0.0), SAMPLE_RATE, metrics, failures=failures)
    assert failures == {}
    assert all(1.0 <= v <= 5.0 for v in (*good.values(), *bad.values()))
    assert good["dnsmos_bak"] > bad["dnsmos_bak"] + 1.0
    assert good["dnsmos_ovrl"] > bad["dnsmos_ovrl"]


def test_nonintrusive_rejects_intrusive_metrics():
    with pytest.raises(ValueError, match="pesq_wb need a reference"):
        score_nonintrusive(np.ones(16000, dtype=np.float32), SAMPLE_RATE, ["pesq_wb", "dnsmos_ovrl"])
