"""Dynamic mixing: a fresh noise, SNR and room per example, reproducible from the seed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers.audio import SR
from helpers.configs import tiny_config, write_config
from mal.bin.train import main
from mal.io import DataDirError
from mal.train.config import ConfigError, build_config
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
