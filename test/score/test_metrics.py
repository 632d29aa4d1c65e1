"""mal.score.metrics and mal.score.composite on real (flite) speech."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from pesq import pesq
from pystoi import stoi

from helpers.audio import add_noise
from mal.io.audio import read_audio
from mal.score import composite as comp
from mal.score.metrics import (
    INTRUSIVE_METRICS,
    LengthMismatchError,
    MetricError,
    parse_metrics,
    score_pair,
)
from score_helpers import SAMPLE_RATE


def test_values_agree_with_the_packages_on_the_same_files(speech, tmp_path):
    clean, noisy = speech["utt1"], add_noise(speech["utt1"], 5.0)
    sf.write(tmp_path / "clean.wav", clean, SAMPLE_RATE, subtype="PCM_16")
    sf.write(tmp_path / "noisy.wav", noisy, SAMPLE_RATE, subtype="PCM_16")
    ref, _ = read_audio(str(tmp_path / "clean.wav"))
    est, _ = read_audio(str(tmp_path / "noisy.wav"))
    ours = score_pair(ref, est, SAMPLE_RATE, ["pesq_wb", "pesq_nb", "stoi", "estoi"])
    ref64, _ = sf.read(tmp_path / "clean.wav")
    est64, _ = sf.read(tmp_path / "noisy.wav")
    assert ours["pesq_wb"] == pytest.approx(pesq(SAMPLE_RATE, ref64, est64, "wb"), abs=1e-5)
    assert ours["pesq_nb"] == pytest.approx(pesq(SAMPLE_RATE, ref64, est64, "nb"), abs=1e-5)
    assert ours["stoi"] == pytest.approx(stoi(ref64, est64, SAMPLE_RATE), abs=1e-6)
    assert ours["estoi"] == pytest.approx(stoi(ref64, est64, SAMPLE_RATE, extended=True), abs=1e-6)
    assert 1.0 < ours["pesq_wb"] < 3.0 and 0.5 < ours["stoi"] < 1.0


def test_a_reference_against_itself_gives_the_maxima(speech):
    clean = speech["utt2"]
    scores = score_pair(clean, clean.copy(), SAMPLE_RATE, INTRUSIVE_METRICS)
    assert scores["pesq_wb"] == pytest.approx(4.644, abs=0.005)
    assert scores["pesq_nb"] == pytest.approx(4.549, abs=0.005)
    assert scores["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert scores["estoi"] == pytest.approx(1.0, abs=1e-6)
    assert scores["sisdr"] > 100 and scores["snr"] > 100
    assert scores["segsnr"] == pytest.approx(35.0, abs=1.0)  # Loizou's clip; silent frames sit at -10
    assert (scores["csig"], scores["cbak"], scores["covl"]) == (5.0, 5.0, 5.0)


def test_every_metric_degrades_monotonically_with_noise(speech):
    clean = speech["utt3"]
    levels = [30.0, 15.0, 5.0, -5.0]
    rows = [score_pair(clean, add_noise(clean, snr, seed=1), SAMPLE_RATE, INTRUSIVE_METRICS) for snr in levels]
    for metric in INTRUSIVE_METRICS:
        values = [row[metric] for row in rows]
        assert all(a >= b for a, b in zip(values, values[1:])), (metric, values)
        assert values[0] > values[-1], (metric, values)
    assert [round(r["snr"]) for r in rows] == [30, 15, 5, -5]  # the metric measures what was added
    assert rows[0]["pesq_wb"] > 2.0 and rows[-1]["pesq_wb"] < 1.3


def test_silent_estimate_is_a_recorded_failure_not_a_zero(speech):
    clean = speech["utt1"]
    failures = {}
    scores = score_pair(clean, np.zeros_like(clean), SAMPLE_RATE, ["pesq_wb", "stoi", "sisdr", "csig"], failures=failures)
    assert scores == {}
    assert set(failures) == {"pesq_wb", "stoi", "sisdr", "csig"}
    assert all("estimate is silent" in reason for reason in failures.values())
    with pytest.raises(MetricError, match="utterance 'u9': pesq_wb: estimate is silent"):
        score_pair(clean, np.zeros_like(clean), SAMPLE_RATE, ["pesq_wb"], key="u9")


def test_a_package_error_becomes_a_failure_and_the_other_metrics_still_count():
    rng = np.random.default_rng(0)
    ref, est = 0.1 * rng.standard_normal(1600), 0.1 * rng.standard_normal(1600)  # 0.1 s: too short for PESQ
    failures = {}
    scores = score_pair(ref, est, SAMPLE_RATE, ["pesq_wb", "sisdr", "snr"], failures=failures)
    assert set(scores) == {"sisdr", "snr"}
    assert failures["pesq_wb"].startswith("BufferTooShortError: Buffer needs to be at least 1/4 of a second")


def test_lengths_within_tolerance_are_trimmed_and_larger_differences_name_the_key(speech):
    clean = speech["utt1"]
    scores = score_pair(clean, clean[:-100], SAMPLE_RATE, ["sisdr"], length_tolerance=256)
    assert scores["sisdr"] > 100
    with pytest.raises(LengthMismatchError, match=r"utterance 'abc': reference has \d+ samples, estimate \d+"):
        score_pair(clean, clean[:-1000], SAMPLE_RATE, ["sisdr"], key="abc")


def test_wideband_pesq_fails_at_8khz_while_narrowband_works(speech):
    from mal.io.audio import resample

    clean = resample(speech["utt2"], SAMPLE_RATE, 8000)
    failures = {}
    scores = score_pair(clean, add_noise(clean, 10), 8000, ["pesq_wb", "pesq_nb", "csig"], failures=failures)
    assert "16 kHz" in failures["pesq_wb"] and 1.0 < scores["pesq_nb"] < 4.0 and 1.0 <= scores["csig"] <= 5.0


def test_other_rates_are_resampled_for_pesq(speech):
    from mal.io.audio import resample

    clean16, noisy16 = speech["utt1"], add_noise(speech["utt1"], 10)
    clean48, noisy48 = resample(clean16, SAMPLE_RATE, 48000), resample(noisy16, SAMPLE_RATE, 48000)
    at16 = score_pair(clean16, noisy16, SAMPLE_RATE, ["pesq_wb"])["pesq_wb"]
    at48 = score_pair(clean48, noisy48, 48000, ["pesq_wb"])["pesq_wb"]
    assert at48 == pytest.approx(at16, abs=0.05)


def test_unknown_metric_names_the_choices():
    with pytest.raises(ValueError, match="unknown metric 'pesq'.*pesq_wb"):
        parse_metrics("pesq,stoi")
    assert parse_metrics("stoi, sisdr,stoi") == ["stoi", "sisdr"]


def test_raw_pesq_inverts_the_p862_1_mapping():
    assert comp.mos_lqo_to_raw_pesq(4.548638343811035) == pytest.approx(4.5, abs=1e-5)
    for raw in (-0.5, 1.0, 2.5, 4.0):
        mos = 0.999 + 4.0 / (1.0 + np.exp(-1.4945 * raw + 4.6607))
        assert comp.mos_lqo_to_raw_pesq(mos) == pytest.approx(raw, abs=1e-9)


def test_composite_parts_identical_signals_and_gain(speech):
    clean = speech["utt3"].astype(np.float64)
    assert np.allclose(comp.llr_frames(clean, clean, SAMPLE_RATE), 0.0)
    assert np.allclose(comp.wss_frames(clean, clean, SAMPLE_RATE), 0.0)
    # LLR (LPC shape) and WSS (spectral slopes) ignore a gain; segmental SNR does not.
    quieter = 0.5 * clean
    llr = comp.llr_frames(clean, quieter, SAMPLE_RATE)
    assert np.max(np.abs(llr[np.isfinite(llr)])) < 1e-6
    assert np.median(comp.wss_frames(clean, quieter, SAMPLE_RATE)) < 1e-6
    assert comp.segmental_snr(clean, quieter, SAMPLE_RATE) < 10.0


def test_composite_follows_published_regressions():
    parts = comp.composite_from_parts(llr=0.5, wss=30.0, segsnr=5.0, raw_pesq=2.5)
    assert parts["csig"] == pytest.approx(3.093 - 1.029 * 0.5 + 0.603 * 2.5 - 0.009 * 30)
    assert parts["cbak"] == pytest.approx(1.634 + 0.478 * 2.5 - 0.007 * 30 + 0.063 * 5)
    assert parts["covl"] == pytest.approx(1.594 + 0.805 * 2.5 - 0.512 * 0.5 - 0.007 * 30)
    assert comp.composite_from_parts(llr=3.0, wss=120.0, segsnr=-10.0, raw_pesq=-0.5) == {
        "csig": 1.0, "cbak": 1.0, "covl": 1.0,
    }


def test_composite_rejects_unsupported_rates(speech):
    with pytest.raises(ValueError, match="8 or 16 kHz"):
        comp.composite(speech["utt1"], speech["utt1"], 22050)


def _loop_frames(signal, rate):
    """composite.m's framing written as its MATLAB loop (an independent oracle)."""
    win = round(0.03 * rate)
    hop = win // 4
    window = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, win + 1) / (win + 1)))
    return [signal[i * hop : i * hop + win] * window for i in range(int(len(signal) / hop - win / hop))]


def _loop_wss(clean, processed, rate):
    clean, processed = clean + comp.EPS, processed + comp.EPS
    n_fft = int(2 ** np.ceil(np.log2(2 * round(0.03 * rate))))
    half = n_fft // 2
    j = np.arange(half)
    filters = []
    for centre, width in zip(comp.CENTRE_FREQUENCIES, comp.BANDWIDTHS):
        f = np.exp(-11 * ((j - np.floor(centre / (rate / 2) * half)) / (width / (rate / 2) * half)) ** 2
                   + np.log(comp.BANDWIDTHS[0]) - np.log(width))
        filters.append(f * (f > np.exp(-30 / (2 * 2.303))))
    out = []
    for cf, pf in zip(_loop_frames(clean, rate), _loop_frames(processed, rate)):
        parts = []
        for frame in (cf, pf):
            spec = np.abs(np.fft.fft(frame, n_fft)) ** 2
            energy = 10 * np.log10(np.maximum([np.sum(spec[:half] * f) for f in filters], 1e-10))
            slope = energy[1:] - energy[:-1]
            peaks = []
            for i in range(24):
                n = i
                if slope[i] > 0:
                    while n < 24 and slope[n] > 0:
                        n += 1
                    peaks.append(energy[n - 1])
                else:
                    while n >= 0 and slope[n] <= 0:
                        n -= 1
                    peaks.append(energy[n + 1])
            weight = 20 / (20 + energy.max() - energy[:-1]) * 1 / (1 + np.array(peaks) - energy[:-1])
            parts.append((slope, weight))
        weight = (parts[0][1] + parts[1][1]) / 2
        out.append(np.sum(weight * (parts[0][0] - parts[1][0]) ** 2) / np.sum(weight))
    return np.array(out)


def _loop_llr(clean, processed, rate):
    from scipy.linalg import solve_toeplitz, toeplitz

    clean, processed = clean + comp.EPS, processed + comp.EPS
    order = 16 if rate >= 10000 else 10
    out = []
    for cf, pf in zip(_loop_frames(clean, rate), _loop_frames(processed, rate)):
        r_c, r_p = ([np.sum(f[: len(f) - k] * f[k:]) for k in range(order + 1)] for f in (cf, pf))
        a_c = np.r_[1.0, -solve_toeplitz(r_c[:-1], r_c[1:])]
        a_p = np.r_[1.0, -solve_toeplitz(r_p[:-1], r_p[1:])]
        out.append(np.log((a_p @ toeplitz(r_c) @ a_p) / (a_c @ toeplitz(r_c) @ a_c)))
    return np.array(out)


@pytest.mark.parametrize("rate", [16000, 8000])
def test_vectorised_llr_and_wss_match_composite_m_loops(speech, rate):
    from mal.io.audio import resample

    clean = resample(speech["utt1"], SAMPLE_RATE, rate)[int(0.5 * rate) : int(1.0 * rate)].astype(np.float64)
    noisy = add_noise(clean.astype(np.float32), 5.0, seed=4).astype(np.float64)
    assert np.allclose(comp.wss_frames(clean, noisy, rate), _loop_wss(clean, noisy, rate), atol=1e-8)
    assert np.allclose(comp.llr_frames(clean, noisy, rate), _loop_llr(clean, noisy, rate), atol=1e-6)
