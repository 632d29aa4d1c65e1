"""egs/dns_challenge on a miniature DNS Challenge (Interspeech 2020) tree: mixtures, test sets,
validation and a tiny warm-up through ./run.sh, layout errors, mixing, configs.
(Its test set used from another recipe: test_voicebank_demand.py.)"""
from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fake_corpora import REPO, DnsTree, recipe_copy, run, write_dns_tree
from mal.io import read_scp, validate_data_dir
from mal.losses import CombinedLoss
from mal.models import build_model
from mal.models.pretrained import load_model
from mal.train.config import load_config

RECIPE = REPO / "egs" / "dns_challenge"
LOCAL = RECIPE / "local"
LSB = 1.0 / 32768
CLIP_SECONDS = 1.5
MIX_OPTS = f"--num_train 6 --num_valid 2 --clip_seconds {CLIP_SECONDS} --reverb_prob 0.5 --write_noise true"


def load_local(name: str):
    """A module of the recipe's local/ (imported as the scripts import each other there)."""
    if str(LOCAL) not in sys.path:
        sys.path.append(str(LOCAL))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> tuple:
    """(egs dir of the copy, fake corpus, run.sh output) after ./run.sh --stage 1 --stop_stage 3."""
    root = tmp_path_factory.mktemp("dns")
    tree = write_dns_tree(root / "DNS-Challenge", with_rirs=True)
    egs = recipe_copy(root, "dns_challenge")
    proc = run(["./run.sh", "--stage", "1", "--stop_stage", "3", "--ngpu", "0", "--nj", "1",
                "--train_config", "conf/test_tiny.yaml", "--local_data_opts", f"--db_root {tree.root} --nj 2 {MIX_OPTS}"],
               egs / "dns_challenge")
    assert proc.returncode == 0, proc.stdout
    return egs, tree, proc.stdout


def test_every_data_dir_validates(recipe) -> None:
    egs, _, output = recipe
    for name in ("train", "valid", "test_no_reverb", "test_with_reverb"):
        assert validate_data_dir(egs / "dns_challenge" / "data" / name, sample_rate=16000) == [], name
    model, _ = load_model(egs / "dns_challenge" / "exp" / "test_tiny" / "warmup" / "model.pth")
    assert type(model).__name__ == "TinyConvAE"
    assert "Successfully finished stages 1-3" in output


def test_mixtures_keep_snr_level_and_sum(recipe) -> None:
    egs, tree, _ = recipe
    mixing = load_local("dns_mixing")
    data = egs / "dns_challenge" / "data" / "train"
    noisy, clean, noise = (read_scp(data / f) for f in ("wav.scp", "spk1.scp", "noise1.scp"))
    snr, level, rir = (read_scp(data / f) for f in ("utt2snr", "utt2level", "utt2rir"))
    assert len(noisy) == 6
    for key in noisy:
        y, c, n = (sf.read(t[key], dtype="float32")[0] for t in (noisy, clean, noise))
        assert len(y) == len(c) == len(n) == int(CLIP_SECONDS * 16000)
        assert np.abs(y - (c + n)).max() <= 1.6 * LSB, f"{key}: noisy != clean + noise"
        assert 0.0 <= float(snr[key]) <= 40.0 and mixing.snr_db(c, n) == pytest.approx(float(snr[key]), abs=0.1)
        assert -35.5 <= float(level[key]) <= -14.5 and mixing.rms_dbfs(y) == pytest.approx(float(level[key]), abs=0.05)
        assert np.abs(y).max() <= mixing.MAX_PEAK + LSB
        assert rir[key] == "none" or Path(rir[key]) in tree.rir_files
    assert {r != "none" for r in rir.values()} == {True, False}, "reverb_prob 0.5 reverberates some, not all"


def test_valid_holds_out_readers_and_noise_files(recipe) -> None:
    egs, tree, _ = recipe
    data = egs / "dns_challenge" / "data"
    readers = {s: set(read_scp(data / s / "utt2spk").values()) for s in ("train", "valid")}
    noises = {s: {f for v in read_scp(data / s / "utt2noise").values() for f in v.split(",")} for s in ("train", "valid")}
    assert readers["train"] and readers["valid"] and not readers["train"] & readers["valid"]
    assert noises["train"] and noises["valid"] and not noises["train"] & noises["valid"]
    assert readers["train"] | readers["valid"] <= {f"reader{r}" for r in ("06709", "11980", "01326", "07907", "04069", "04408")}
    assert noises["train"] | noises["valid"] <= {p.name for p in tree.noise_files}


def test_test_sets_are_paired_by_fileid(recipe) -> None:
    egs, tree, _ = recipe
    for condition in ("no_reverb", "with_reverb"):
        data = egs / "dns_challenge" / "data" / f"test_{condition}"
        noisy, clean = read_scp(data / "wav.scp"), read_scp(data / "spk1.scp")
        assert sorted(noisy) == [f"fileid_{i:04d}" for i in tree.test_fileids]
        for key, path in noisy.items():
            fileid = int(key.split("_")[1])
            assert path.endswith(f"_fileid_{fileid}.wav") and f"/synthetic/{condition}/noisy/" in path
            assert clean[key] == str(tree.root / "datasets" / "test_set" / "synthetic" / condition / "clean" / f"clean_fileid_{fileid}.wav")
            assert f"_snr{read_scp(data / 'utt2snr')[key]}_tl{read_scp(data / 'utt2level')[key]}_" in Path(path).name


def test_same_corpus_whatever_nj_and_a_rerun_is_skipped(recipe, tmp_path: Path) -> None:
    egs, tree, _ = recipe
    opts = ["--db_root", tree.root, "--sets", "train", "--nj", "1", *MIX_OPTS.split()]
    proc = run([LOCAL / "data.sh", *opts], tmp_path)
    assert proc.returncode == 0, proc.stdout
    ours, theirs = tmp_path / "data" / "train", egs / "dns_challenge" / "data" / "train"
    for table in ("utt2snr", "utt2level", "utt2rir", "utt2noise", "utt2spk"):
        assert (ours / table).read_text() == (theirs / table).read_text(), table
    for key, path in read_scp(ours / "wav.scp").items():
        assert Path(path).read_bytes() == Path(read_scp(theirs / "wav.scp")[key]).read_bytes(), key
    proc = run([LOCAL / "data.sh", *opts], tmp_path)
    assert "train: 6 mixtures already in" in proc.stdout and "valid: 2 mixtures already in" in proc.stdout
    proc = run([LOCAL / "data.sh", *opts, "--seed", "1"], tmp_path)
    assert proc.returncode == 0 and "already in" not in proc.stdout
    assert (ours / "utt2snr").read_text() != (theirs / "utt2snr").read_text()


def test_simulated_rooms_when_there_is_no_rir_folder(tmp_path: Path) -> None:
    pytest.importorskip("pyroomacoustics")
    tree = write_dns_tree(tmp_path / "db", clips_per_reader=1, num_noise=2, num_test=1, seconds=(1.0, 1.2))
    proc = run([LOCAL / "data.sh", "--db_root", tree.root, "--sets", "train", "--num_train", "3", "--num_valid", "1",
                "--clip_seconds", "1", "--reverb_prob", "1", "--num_simulated_rirs", "2", "--nj", "1"], tmp_path)
    assert proc.returncode == 0, proc.stdout
    rirs = sorted((tmp_path / "dump" / "rirs").glob("sim_*.wav"))
    assert [p.name for p in rirs] == ["sim_00000.wav", "sim_00001.wav"]
    assert set(read_scp(tmp_path / "data" / "train" / "utt2rir").values()) <= {str(p) for p in rirs}
    rir, rate = sf.read(rirs[0])
    assert rate == 16000 and rir[0] == pytest.approx(1.0) and np.abs(rir).max() == pytest.approx(1.0)
    tail = np.sum(rir[int(0.05 * rate):] ** 2) / np.sum(rir**2)
    assert 0.01 < tail < 0.99, "a room: direct sound and a reverberant tail"


def test_missing_or_misnamed_folders_fail_clearly(tmp_path: Path) -> None:
    tree = write_dns_tree(tmp_path / "db", clips_per_reader=1, num_noise=2, num_test=1, seconds=(0.3, 0.4))
    synthetic = tree.root / "datasets" / "test_set" / "synthetic"
    (synthetic / "with_reverb").rename(synthetic / "with_reverbs")
    shutil.rmtree(tree.root / "datasets" / "noise")
    proc = run([LOCAL / "data.sh", "--db_root", tree.root], tmp_path)
    assert proc.returncode != 0
    assert f"{synthetic}/with_reverb/clean/ (found '{synthetic}/with_reverbs' instead: misnamed?)" in proc.stdout
    assert "no_reverb/clean" not in proc.stdout, "only the missing folders are listed"
    assert not (tmp_path / "data").exists(), "test sets are checked before anything is written"
    (synthetic / "with_reverbs").rename(synthetic / "with_reverb")
    proc = run([LOCAL / "data.sh", "--db_root", tree.root], tmp_path)
    assert proc.returncode != 0 and f"{tree.root}/datasets/noise/" in proc.stdout
    proc = run([LOCAL / "data.sh", "--db_root", tree.root / "datasets", "--sets", "test"], tmp_path)
    assert proc.returncode != 0 and f"point it at {tree.root}" in proc.stdout


def test_git_lfs_pointers_and_unpaired_files_are_named(tmp_path: Path) -> None:
    layout, tests = load_local("dns_layout"), load_local("make_test_sets")
    tree: DnsTree = write_dns_tree(tmp_path / "db", clips_per_reader=1, num_noise=2, num_test=2, seconds=(0.3, 0.4))
    pointer = tree.clean_files[0]
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")
    with pytest.raises(layout.CorpusError, match=f"{pointer} is a Git LFS pointer.*git lfs pull"):
        layout.list_wavs(pointer.parent)
    noisy_dir = tree.root / "datasets" / "test_set" / "synthetic" / "no_reverb" / "noisy"
    clean_dir = noisy_dir.parent / "clean"
    (clean_dir / f"clean_fileid_{tree.test_fileids[1]}.wav").unlink()
    noisy, clean = tests.by_fileid(noisy_dir), tests.by_fileid(clean_dir)
    with pytest.raises(layout.CorpusError, match=f"no file with fileid_{tree.test_fileids[1]} in {clean_dir}"):
        tests.pair(noisy, clean, noisy_dir, clean_dir)


def test_mix_handles_clipping_and_keeps_the_snr() -> None:
    mixing = load_local("dns_mixing")
    rng = np.random.default_rng(0)
    clean = np.sin(np.arange(16000) * 0.05).astype(np.float32) * 0.3
    noise = rng.standard_normal(16000).astype(np.float32)
    quiet = mixing.mix(clean, noise, snr=10.0, target_dbfs=-30.0)
    assert quiet.clip_gain_db == 0.0 and quiet.level_dbfs == pytest.approx(-30.0, abs=1e-3)
    assert mixing.snr_db(quiet.clean, quiet.noise) == pytest.approx(10.0, abs=1e-3)
    loud = mixing.mix(clean, noise, snr=-5.0, target_dbfs=-3.0)
    assert loud.clip_gain_db < 0 and loud.level_dbfs < -3.0
    assert max(np.abs(s).max() for s in (loud.noisy, loud.clean, loud.noise)) <= mixing.MAX_PEAK + 1e-6
    assert mixing.snr_db(loud.clean, loud.noise) == pytest.approx(-5.0, abs=1e-3)
    np.testing.assert_allclose(loud.noisy, loud.clean + loud.noise, atol=1e-6)
    with pytest.raises(ValueError, match="digital silence"):
        mixing.mix(np.zeros(100, np.float32), noise[:100], 0.0, -25.0)


def test_activity_and_noise_fitting() -> None:
    mixing = load_local("dns_mixing")
    tone = np.sin(np.arange(16000) * 0.1).astype(np.float32)
    half_silent = np.concatenate([tone, np.zeros(16000, np.float32)])
    assert mixing.active_fraction(tone, 16000) == 1.0
    assert mixing.active_fraction(half_silent, 16000) == pytest.approx(0.5, abs=0.05)
    clips = iter([np.full(300, 1.0, np.float32), np.full(300, 2.0, np.float32), np.full(300, 3.0, np.float32)])
    fitted = mixing.fit_noise(lambda: next(clips), 500, np.random.default_rng(0))
    assert fitted.shape == (500,) and set(np.unique(fitted)) <= {1.0, 2.0}, "two clips cover 500 samples"


def test_paper_configs_build_and_fine_tuning_is_comparable() -> None:
    configs = {p.stem: load_config(p) for p in sorted((RECIPE / "conf").glob("*.yaml"))}
    assert set(configs) == {"warmup", "mal", "mal_frozen_fe", "mal_dynamic", "continued"}
    warmup = configs.pop("warmup")
    assert warmup["model"]["conf"]["causal"] is True, "the challenge's real-time setting"
    model = build_model(warmup["model"]["name"], **warmup["model"]["conf"])
    assert 10e6 < sum(p.numel() for p in model.parameters()) < 100e6, "paper scale"
    assert {c["train"]["max_steps"] for c in configs.values()} == {30000}
    for name, config in configs.items():
        assert config["model"] == warmup["model"], f"{name}: --init needs the warm-up architecture"
        CombinedLoss(config["criterions"]).attach(model)
    assert "--test_sets \"test_no_reverb test_with_reverb\"" in (RECIPE / "run.sh").read_text()
