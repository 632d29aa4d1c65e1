"""Dynamic mixing: a fresh noise, SNR and room per example, reproducible from the seed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import welch

from helpers.audio import SR
from helpers.configs import tiny_config, write_config
from mal.bin.train import main
from mal.io import DataDirError
from mal.train.config import ConfigError, build_config
from mal.train.augment import lowpass, random_eq, stationary_noise
from mal.train.dynamic_mixing import DynamicMixingDataset, MixingOptions, NoisePool, make_train_dataset
from mal.train.mixing import power, reverberate

KINDS = {"hiss": 6, "tone": 2}  # kind -> number of clips (unbalanced on purpose)


def write_pools(root: Path) -> tuple:
    """(noise wav.scp, rir wav.scp): clips of two noise kinds, and four decaying RIRs."""
    rng = np.random.default_rng(7)
    (root / "noise").mkdir(parents=True)
    scp, categories = [], []
    for kind, count in KINDS.items():
        for i in range(count):
            n = int(SR * (0.3 if i == 0 else 1.5))  # one clip shorter than a segment: tiled
            t = np.arange(n) / SR
            wav = rng.standard_normal(n) if kind == "hiss" else np.sin(2 * np.pi * (300 + 50 * i) * t)
            path = root / "noise" / f"{kind}{i}.wav"
            sf.write(path, (0.1 * wav).astype(np.float32), SR, subtype="FLOAT")
            scp.append(f"{kind}-{i} {path}\n")
            categories.append(f"{kind}-{i} {kind}\n")
    (root / "noise" / "wav.scp").write_text("".join(sorted(scp)))
    (root / "noise" / "utt2category").write_text("".join(sorted(categories)))
    (root / "rir").mkdir()
    rirs = []
    for i in range(4):
        taps = np.zeros(2400, np.float32)
        taps[5] = 1.0  # direct path after a delay: aligned to index 0 on load
        taps[6:] = 0.3 * rng.standard_normal(2394) * np.exp(-np.arange(2394) / (300 + 100 * i))
        path = root / "rir" / f"room{i}.wav"
        sf.write(path, taps, SR, subtype="FLOAT")
        rirs.append(f"room{i} {path}\n")
    (root / "rir" / "wav.scp").write_text("".join(rirs))
    return root / "noise" / "wav.scp", root / "rir" / "wav.scp"


@pytest.fixture(scope="module")
def pools(tmp_path_factory) -> tuple:
    return write_pools(tmp_path_factory.mktemp("pools"))


def dataset(data_dirs, pools, seed=0, prob=0.5, snr=(-5.0, 20.0)) -> DynamicMixingDataset:
    options = MixingOptions(noise_scp=str(pools[0]), noise_db_range=snr, rir_scp=str(pools[1]), rir_apply_prob=prob)
    return DynamicMixingDataset(data_dirs[0], SR, 1.0, options, seed=seed)


def test_a_draw_is_reproducible_from_its_seed_and_differs_across_epochs_and_examples(data_dirs, pools):
    a, b = dataset(data_dirs, pools), dataset(data_dirs, pools)
    for index in range(len(a)):
        torch.testing.assert_close(a[index], b[index], rtol=0, atol=0)
    first = [a[i][0] for i in range(len(a))]
    a.set_epoch(1)
    second = [a[i][0] for i in range(len(a))]
    assert all(not torch.equal(x, y) for x, y in zip(first, second)), "a new epoch draws new mixtures"
    assert not torch.equal(dataset(data_dirs, pools, seed=1)[0][0], first[0]), "another seed, another draw"
    noise_keys = {a.mixture(i)["noise_key"] for e in range(4) for i in range(len(a)) if a.set_epoch(e) is None}
    assert len(noise_keys) >= 5, noise_keys


def test_noisy_is_clean_plus_noise_at_the_drawn_snr(data_dirs, pools):
    ds = dataset(data_dirs, pools, prob=0.0, snr=(3.0, 3.0))
    for index in range(len(ds)):
        draw = ds.mixture(index)
        noisy, clean, noise = draw["noisy"], draw["clean"], draw["noise"]
        assert noisy.shape == clean.shape == (SR,) and noisy.dtype == np.float32
        np.testing.assert_allclose(noisy, clean + noise, atol=1e-6)
        assert 10 * np.log10(power(clean) / power(noise)) == pytest.approx(3.0, abs=0.01)
        assert np.abs(noisy).max() <= 0.95 + 1e-6
        assert draw["room"] == -1


def test_rooms_reach_the_stated_share_and_the_target_is_the_reverberant_speech(data_dirs, pools):
    ds = dataset(data_dirs, pools, prob=0.3)
    rooms = []
    for epoch in range(60):
        ds.set_epoch(epoch)
        rooms += [ds.mixture(i)["room"] for i in range(len(ds))]
    share = np.mean(np.array(rooms) >= 0)
    assert share == pytest.approx(0.3, abs=0.06), share  # 480 draws: 3 standard errors
    assert set(rooms) - {-1} == {0, 1, 2, 3}
    # the clean target of a reverberant draw is the dry segment convolved with that room
    ds.set_epoch(0)
    index = next(i for e in range(60) for i in range(len(ds)) if ds.set_epoch(e) is None and ds.mixture(i)["room"] >= 0)
    draw = ds.mixture(index)
    dry = ds._speech_segment(ds.rng(index), ds.keys[index])
    wet = reverberate(dry, ds.rirs[draw["room"]])
    gain = np.dot(draw["clean"], wet) / np.dot(wet, wet)
    np.testing.assert_allclose(draw["clean"], gain * wet, atol=1e-5)


def test_noise_kinds_are_drawn_equally_often_whatever_their_number_of_files(pools):
    pool = NoisePool(pools[0], SR)
    rng = np.random.default_rng(0)
    kinds = [pool.draw(rng, SR)[0].split("-")[0] for _ in range(400)]
    assert kinds.count("tone") == pytest.approx(200, abs=40), "2 tone clips vs 6 hiss clips, kinds balanced"


def test_bad_pools_fail_naming_the_file(tmp_path, data_dirs, pools):
    empty = tmp_path / "empty.scp"
    empty.write_text("")
    with pytest.raises(DataDirError, match="empty.scp: no noise recordings"):
        NoisePool(empty, SR)
    missing = tmp_path / "noise" / "wav.scp"
    missing.parent.mkdir()
    missing.write_text(f"a {pools[0].parent / 'hiss0.wav'}\nb {pools[0].parent / 'hiss1.wav'}\n")
    (missing.parent / "utt2category").write_text("a hiss\n")
    with pytest.raises(DataDirError, match=r"utt2category: noise 'b'"):
        NoisePool(missing, SR)
    no_clean = tmp_path / "train"
    no_clean.mkdir()
    (no_clean / "wav.scp").write_text((data_dirs[0] / "wav.scp").read_text())
    with pytest.raises(DataDirError, match="spk1.scp"):
        make_train_dataset(no_clean, SR, 1.0, {"noise_scp": str(pools[0]), "noise_db_range": [0, 5], "rir_scp": None,
                                               "rir_apply_prob": 0.0, "speech_level_range": [-30, -20]}, 0)


@pytest.mark.parametrize("section, message", [
    ({"speech_eq_prob": 2}, "speech_eq_prob' must be a number in \\[0, 1\\]"),
    ({"second_noise_prob": True}, "second_noise_prob' must be a number in \\[0, 1\\]"),
    ({"second_noise_db_range": [0, -10]}, "second_noise_db_range' must have low <= high"),
    ({"gain_db_range": 3}, "gain_db_range' must be a \\[low, high\\] pair"),
    ({"bandlimit_cutoffs": []}, "bandlimit_cutoffs' must be a non-empty list"),
    ({"short_noise": "pad"}, "short_noise' must be tile or concat"),
    ({"noise_cache": "yes"}, "noise_cache' must be true or false"),
    ({"noise_db_range": [20, -5]}, "noise_db_range' must have low <= high"),
    ({"noise_db_range": 5}, "noise_db_range' must be a \\[low, high\\] pair"),
    ({"rir_apply_prob": 1.5}, "rir_apply_prob' must be a number in \\[0, 1\\]"),
    ({"rir_apply_prob": 0.5}, "'dynamic_mixing.rir_scp' is not set"),
    ({"noise_scp": 3}, "noise_scp' must be a path"),
])
def test_config_errors_name_the_key(section, message):
    with pytest.raises(ConfigError, match=message):
        build_config(tiny_config(dynamic_mixing=section))


def test_training_with_dynamic_mixing_runs_and_resumes_to_the_same_weights(tmp_path, data_dirs, pools):
    mixing = {"noise_scp": str(pools[0]), "rir_scp": str(pools[1]), "rir_apply_prob": 0.5}
    config = write_config(tmp_path / "c.yaml", dynamic_mixing=mixing, train={"max_epochs": 2, "seed": 0, "keep_nbest": 1, "amp": False})
    data = ["--train-dir", str(data_dirs[0]), "--valid-dir", str(data_dirs[1]), "--device", "cpu"]
    assert main(["--config", str(config), *data, "--out-dir", str(tmp_path / "full")]) == 0
    assert "dynamic mixing: 8 clean utterances, 8 noise recordings of 2 kinds" in (tmp_path / "full" / "train.log").read_text()
    once = torch.load(tmp_path / "full" / "model.pth", weights_only=True)
    short = write_config(tmp_path / "s.yaml", dynamic_mixing=mixing, train={"max_epochs": 1, "seed": 0, "keep_nbest": 1, "amp": False})
    assert main(["--config", str(short), *data, "--out-dir", str(tmp_path / "split")]) == 0
    assert main(["--config", str(config), *data, "--out-dir", str(tmp_path / "split"), "--resume"]) == 0
    again = torch.load(tmp_path / "split" / "model.pth", weights_only=True)
    flat = lambda state: {k: v for k, v in state["model"]["state_dict"].items()}  # noqa: E731
    for key, value in flat(once).items():
        torch.testing.assert_close(flat(again)[key], value, rtol=0, atol=0)


# ---------------------------------------------------------------- augmentations and the clip cache

def augmented(data_dirs, pools, **options) -> DynamicMixingDataset:
    base = {"noise_scp": str(pools[0]), "noise_db_range": (10.0, 10.0)}
    return DynamicMixingDataset(data_dirs[0], SR, 1.0, MixingOptions(**{**base, **options}), seed=3)


def band_db(x: np.ndarray, low: float) -> float:
    """Energy above ``low`` Hz relative to the total (dB)."""
    freqs, spectrum = welch(x, SR, nperseg=1024)  # Hann windows: no leakage from the segment's ends
    return 10 * np.log10(spectrum[freqs > low].sum() / spectrum.sum())


def test_config_defaults_are_the_options_defaults_and_leave_every_augmentation_off(data_dirs, pools):
    config = build_config(tiny_config(dynamic_mixing={"noise_scp": str(pools[0])}))
    options = MixingOptions.from_config(config["dynamic_mixing"])
    assert options == MixingOptions(noise_scp=str(pools[0]))
    ds = DynamicMixingDataset(data_dirs[0], SR, 1.0, options, seed=3)
    plain = DynamicMixingDataset(data_dirs[0], SR, 1.0, MixingOptions(noise_scp=str(pools[0]), noise_cache=False), seed=3)
    for i in range(len(ds)):
        a, b = ds.mixture(i), plain.mixture(i)
        assert a["second_noise_key"] == "" and a["bandlimit_hz"] == 0 and a["gain_db"] == 0
        np.testing.assert_array_equal(a["noisy"], b["noisy"])


def test_each_augmentation_draws_from_its_own_stream_so_the_base_draw_is_unchanged(data_dirs, pools):
    base = augmented(data_dirs, pools)
    every = augmented(data_dirs, pools, speech_eq_prob=1.0, noise_eq_prob=1.0, bandlimit_prob=1.0, second_noise_prob=1.0,
                      gain_db_range=(-6.0, -3.0), short_noise="concat")
    again = augmented(data_dirs, pools, speech_eq_prob=1.0, noise_eq_prob=1.0, bandlimit_prob=1.0, second_noise_prob=1.0,
                      gain_db_range=(-6.0, -3.0), short_noise="concat")
    for i in range(len(base)):
        a, b, c = base.mixture(i), every.mixture(i), again.mixture(i)
        assert (a["snr_db"], a["room"]) == (b["snr_db"], b["room"])
        if base.noise.clip(a["noise_key"]).shape[0] >= SR:  # concat only changes draws of short clips
            assert a["noise_key"] == b["noise_key"]
        np.testing.assert_array_equal(b["noisy"], c["noisy"])
        assert not np.allclose(a["noisy"], b["noisy"])
    every.set_epoch(1)
    assert not np.allclose(every.mixture(0)["noisy"], again.mixture(0)["noisy"])


def test_speech_eq_filters_input_and_target_speech_with_the_drawn_biquad(data_dirs, pools):
    plain, eq = augmented(data_dirs, pools), augmented(data_dirs, pools, speech_eq_prob=1.0)
    for i in range(3):
        dry, wet = plain.mixture(i), eq.mixture(i)
        stream = eq.rng(i, 1)
        stream.random()
        expected = random_eq(dry["clean"], stream)
        scale = np.dot(wet["clean"], expected) / np.dot(expected, expected)
        np.testing.assert_allclose(wet["clean"], scale * expected, atol=2e-5)
        np.testing.assert_allclose(wet["noisy"] - wet["noise"], wet["clean"], atol=1e-6)
        assert np.abs(wet["clean"] - dry["clean"] * scale).max() > 1e-3
    share = augmented(data_dirs, pools, speech_eq_prob=0.25)
    hits = [not np.allclose(share.mixture(i)["clean"], plain.mixture(i)["clean"], atol=1e-6)
            for e in range(40) for i in range(len(share)) if share.set_epoch(e) is None and plain.set_epoch(e) is None]
    assert np.mean(hits) == pytest.approx(0.25, abs=0.075)  # 320 draws: 3 standard errors


def test_noise_eq_filters_the_noise_only(data_dirs, pools):
    plain, eq = augmented(data_dirs, pools), augmented(data_dirs, pools, noise_eq_prob=1.0)
    for i in range(3):
        dry, wet = plain.mixture(i), eq.mixture(i)
        np.testing.assert_allclose(wet["clean"], dry["clean"], atol=1e-6)
        stream = eq.rng(i, 4)
        stream.random()
        expected = random_eq(dry["noise"], stream)
        scale = np.dot(wet["noise"], expected) / np.dot(expected, expected)
        np.testing.assert_allclose(wet["noise"], scale * expected, atol=2e-5)


@pytest.mark.parametrize("cutoff", [7000.0, 4000.0])
def test_band_limited_speech_loses_its_top_band_in_input_and_target_alike_and_stays_aligned(data_dirs, pools, cutoff):
    white = np.random.default_rng(0).standard_normal(4 * SR).astype(np.float32)
    cut_white = lowpass(white, cutoff, SR)
    assert band_db(cut_white, cutoff + 500) < -60  # white noise: about -7 dB (7 kHz) or -5 dB (4 kHz) before
    kept = lambda x: np.abs(np.fft.rfft(x))[np.fft.rfftfreq(len(x), 1 / SR) < cutoff - 300] ** 2  # noqa: E731
    assert 10 * np.log10(kept(cut_white).sum() / kept(white).sum()) == pytest.approx(0.0, abs=0.3)
    plain = augmented(data_dirs, pools)
    limited = augmented(data_dirs, pools, bandlimit_prob=1.0, bandlimit_cutoffs=(cutoff,))
    for i in range(len(plain)):
        full, cut = plain.mixture(i), limited.mixture(i)
        assert cut["bandlimit_hz"] == cutoff
        np.testing.assert_allclose(cut["noisy"] - cut["noise"], cut["clean"], atol=1e-6)
        expected = lowpass(full["clean"], cutoff, SR)  # the target is the band-limited speech, not delayed
        scale = np.dot(cut["clean"], expected) / np.dot(expected, expected)
        np.testing.assert_allclose(cut["clean"], scale * expected, atol=1e-5)
        assert band_db(cut["clean"], cutoff + 500) < -60
        np.testing.assert_allclose(cut["noise"], full["noise"] * np.sqrt(power(cut["noise"]) / power(full["noise"])), atol=1e-6)
    both = augmented(data_dirs, pools, bandlimit_prob=1.0)
    seen = {both.mixture(i)["bandlimit_hz"] for e in range(5) for i in range(len(both)) if both.set_epoch(e) is None}
    assert seen == {7000.0, 4000.0}


def test_generated_noise_is_an_extra_kind_with_a_random_envelope_and_slow_modulation(data_dirs, pools):
    ds = augmented(data_dirs, pools, generated_noise_prob=0.3)
    keys = [ds.mixture(i)["noise_key"] for e in range(40) for i in range(len(ds)) if ds.set_epoch(e) is None]
    assert np.mean([k == "generated" for k in keys]) == pytest.approx(0.3, abs=0.08)
    a = stationary_noise(10 * SR, np.random.default_rng(1), SR)
    b = stationary_noise(10 * SR, np.random.default_rng(4), SR)
    assert np.sqrt(np.mean(a ** 2)) == pytest.approx(1.0, rel=1e-4)
    bands = lambda x: np.array([band_db(x, f) for f in (250, 1000, 3000, 6000)])  # noqa: E731
    assert np.abs(bands(a) - bands(b)).max() > 3, "each draw has its own spectral envelope"
    white = np.random.default_rng(0).standard_normal(10 * SR)
    for x in (a, b):
        frames = np.array([np.sqrt(np.mean(f ** 2)) for f in np.split(x, 100)])  # 100 ms frames
        assert frames.std() > 3 * np.std([np.sqrt(np.mean(f ** 2)) for f in np.split(white, 100)]), "amplitude modulated"
        fluctuation = np.abs(np.fft.rfft(frames - frames.mean())) ** 2
        slow = fluctuation[np.fft.rfftfreq(100, 0.1) <= 2.05].sum() / fluctuation.sum()
        assert slow > 0.8, "slowly: the level changes below 2 Hz"


def test_a_second_noise_of_another_kind_is_added_at_the_drawn_relative_level(data_dirs, pools):
    plain = augmented(data_dirs, pools)
    two = augmented(data_dirs, pools, second_noise_prob=1.0, second_noise_db_range=(-6.0, -6.0))
    for i in range(len(plain)):
        one, both = plain.mixture(i), two.mixture(i)
        kinds = {k.split("-")[0] for k in (both["noise_key"], both["second_noise_key"])}
        assert len(kinds) == 2, (both["noise_key"], both["second_noise_key"])
        stream = two.rng(i, 5)
        stream.random()
        _, second = two.noise.draw(stream, two.segment, exclude_kind=two.noise.kind_of[both["noise_key"]])
        basis = np.stack([one["noise"], second], axis=1).astype(np.float64)
        coef, *_ = np.linalg.lstsq(basis, both["noise"], rcond=None)
        np.testing.assert_allclose(basis @ coef, both["noise"], atol=1e-5)
        relative = 10 * np.log10(power(coef[1] * second) / power(coef[0] * one["noise"]))
        assert relative == pytest.approx(-6.0, abs=0.01)
        assert 10 * np.log10(power(both["clean"]) / power(both["noise"])) == pytest.approx(10.0, abs=0.01)


def test_short_clips_are_concatenated_with_clips_of_their_kind_instead_of_tiled(pools):
    pool = NoisePool(pools[0], SR)
    short, other = pool.clip("tone-0"), pool.clip("tone-1")
    assert short.shape[0] < SR
    joined = 0
    for seed in range(200):
        key, noise = pool.draw(np.random.default_rng(seed), SR, concat=True)
        if key != "tone-0":
            continue
        _, tiled = pool.draw(np.random.default_rng(seed), SR)
        assert noise.shape == (SR,) and np.all(np.isfinite(noise))
        window = np.lib.stride_tricks.sliding_window_view(noise, 400)
        if (np.abs(window - other[100:500]).max(axis=1) < 1e-7).any():  # tone-1 appears unchanged after a join
            joined += 1
            assert not np.allclose(noise, tiled)
    assert joined >= 3


def test_random_gain_scales_input_and_target_together(data_dirs, pools):
    plain = augmented(data_dirs, pools)
    quiet = augmented(data_dirs, pools, gain_db_range=(-20.0, -20.0))
    loud = augmented(data_dirs, pools, gain_db_range=(40.0, 40.0))
    for i in range(len(plain)):
        a, b, c = plain.mixture(i), quiet.mixture(i), loud.mixture(i)
        np.testing.assert_allclose(b["noisy"], 0.1 * a["noisy"], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(b["clean"], 0.1 * a["clean"], rtol=1e-5, atol=1e-8)
        assert np.abs(c["noisy"]).max() == pytest.approx(0.95, abs=1e-6), "a loud gain stops at the peak limit"


def test_the_clip_cache_decodes_each_clip_once_keeps_pcm16_as_int16_and_draws_the_same(tmp_path, pools):
    folder = tmp_path / "pcm"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(3):
        path = folder / f"n{i}.wav"
        wav = 0.2 * rng.standard_normal(int(SR * (0.5 + i)))
        wav[i] = -1.0  # -32768: still a PCM-16 value
        sf.write(path, wav, SR, subtype="PCM_16")
        lines.append(f"n{i} {path}\n")
    (folder / "wav.scp").write_text("".join(lines))
    cached, fresh = NoisePool(folder / "wav.scp", SR, cache=True), NoisePool(folder / "wav.scp", SR)
    assert all(a.dtype == np.int16 for a in cached.cache.values())
    assert all(a.dtype == np.float32 for a in NoisePool(pools[0], SR, cache=True).cache.values()), "float files stay exact"
    draws = [(np.random.default_rng(s), np.random.default_rng(s)) for s in range(20)]
    for r1, r2 in draws:
        k1, n1 = cached.draw(r1, SR)
        k2, n2 = fresh.draw(r2, SR)
        assert k1 == k2
        np.testing.assert_array_equal(n1, n2)
    for i in range(3):
        (folder / f"n{i}.wav").unlink()
    key, noise = cached.draw(np.random.default_rng(0), SR)  # the files are gone: the cache answers
    assert noise.shape == (SR,) and noise.dtype == np.float32
