"""egs/voicebank_demand on a miniature VoiceBank+DEMAND tree (real folder and file names, 48 kHz):
data preparation, validation and a tiny warm-up through ./run.sh, layout errors, download, configs,
and the DNS Challenge's test set enhanced and scored by this recipe (a test set given as a path)."""
from __future__ import annotations

import importlib.util
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from fake_corpora import REPO, VB_FOLDERS, VoiceBankTree, recipe_copy, run, write_dns_tree, write_voicebank_tree
from mal.io import read_scp, validate_data_dir
from mal.losses import CombinedLoss
from mal.models import build_model
from mal.models.pretrained import load_model
from mal.train.config import load_config

RECIPE = REPO / "egs" / "voicebank_demand"
LSB = 1.0 / 32768


def load_local(name: str):
    spec = importlib.util.spec_from_file_location(f"vb_{name}", RECIPE / "local" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> tuple:
    """(recipe dir, fake corpus, run.sh output) after ./run.sh --stage 1 --stop_stage 3."""
    root = tmp_path_factory.mktemp("vb")
    tree = write_voicebank_tree(root / "VoiceBank-DEMAND")
    recipe_dir = recipe_copy(root, "voicebank_demand", "dns_challenge") / "voicebank_demand"
    proc = run(["./run.sh", "--stage", "1", "--stop_stage", "3", "--ngpu", "0", "--nj", "1",
                "--train_config", "conf/test_tiny.yaml", "--local_data_opts", f"--db_root {tree.root} --nj 2"], recipe_dir)
    assert proc.returncode == 0, proc.stdout
    return recipe_dir, tree, proc.stdout


def test_data_dirs_validate_and_hold_out_p226_p287(recipe) -> None:
    recipe_dir, tree, _ = recipe
    speakers = {}
    for name in ("train", "valid", "test"):
        data = recipe_dir / "data" / name
        assert validate_data_dir(data, sample_rate=16000) == [], name
        utt2spk = read_scp(data / "utt2spk")
        speakers[name] = set(utt2spk.values())
        assert all(utt.startswith(spk + "_") for utt, spk in utt2spk.items())
        assert read_scp(data / "text") == {u: tree.transcripts[u] for u in utt2spk}
        for scp in ("wav.scp", "spk1.scp"):
            assert all(Path(p).is_absolute() and Path(p).is_file() for p in read_scp(data / scp).values())
        assert (data / "utt2num_samples").is_file(), "stage 2 writes the lengths"
    assert speakers == {"valid": {"p226", "p287"}, "train": {"p230", "p231"}, "test": {"p232", "p257"}}
    assert sorted(read_scp(recipe_dir / "data" / "test" / "wav.scp")) == tree.test_utts


def test_audio_is_the_source_resampled_to_16k(recipe) -> None:
    recipe_dir, tree, _ = recipe
    for name, folder in (("train", "trainset_28spk"), ("test", "testset")):
        data = recipe_dir / "data" / name
        for scp, kind in (("wav.scp", "noisy"), ("spk1.scp", "clean")):
            for utt, path in read_scp(data / scp).items():
                out, rate = sf.read(path, dtype="float32")
                info = sf.info(path)
                assert (rate, info.channels, info.subtype) == (16000, 1, "PCM_16")
                src, src_rate = sf.read(tree.root / f"{kind}_{folder}_wav" / f"{utt}.wav", dtype="float32")
                expected = soxr.resample(src, src_rate, 16000, quality="HQ")
                assert out.shape == expected.shape and abs(len(src) / 3 - len(out)) <= 1
                assert np.abs(out - expected).max() <= 1.01 * LSB, f"{name}/{scp} {utt}"
        noisy, clean = (read_scp(data / s) for s in ("wav.scp", "spk1.scp"))
        assert all(sf.info(noisy[u]).frames == sf.info(clean[u]).frames for u in noisy)


def test_warmup_trained_a_model(recipe) -> None:
    recipe_dir, _, output = recipe
    out = recipe_dir / "exp" / "test_tiny" / "warmup"
    model, _ = load_model(out / "model.pth")
    assert type(model).__name__ == "TinyConvAE"
    assert (out / "log.csv").read_text().count("\n") >= 2, "header and one epoch row"
    assert "Successfully finished stages 1-3" in output
    assert "the official release has 11572" in output, "a partial copy is pointed out"


def test_rerun_keeps_the_dump(recipe) -> None:
    recipe_dir, tree, _ = recipe
    wavs = sorted((recipe_dir / "dump").rglob("*.wav"))
    before = {p: p.stat().st_mtime_ns for p in wavs}
    proc = run(["local/data.sh", "--db_root", tree.root, "--nj", "1"], recipe_dir)
    assert proc.returncode == 0, proc.stdout
    assert "train: 4 utterances, 2 speakers (p230, p231), 0 files resampled" in proc.stdout
    assert {p: p.stat().st_mtime_ns for p in wavs} == before


def test_cross_corpus_test_set_given_as_a_path(recipe) -> None:
    """./run.sh --stage 5 --stop_stage 6 --test_sets ../dns_challenge/data/test_no_reverb: outputs named after the path."""
    recipe_dir, _, _ = recipe
    dns = write_dns_tree(recipe_dir.parent.parent / "DNS-Challenge", clips_per_reader=1, num_noise=2, num_test=2, seconds=(0.8, 1.0))
    proc = run(["local/data.sh", "--db_root", dns.root, "--sets", "test"], recipe_dir.parent / "dns_challenge")
    assert proc.returncode == 0, proc.stdout
    exp = recipe_dir / "exp" / "test_tiny"
    (exp / "mal").mkdir()
    shutil.copy(exp / "warmup" / "model.pth", exp / "mal" / "model.pth")  # a stand-in: stage 4 is not under test here
    proc = run(["./run.sh", "--stage", "5", "--stop_stage", "6", "--ngpu", "0", "--nj", "1",
                "--train_config", "conf/test_tiny.yaml", "--baseline_configs", "", "--num_report_utts", "1",
                "--test_sets", "../dns_challenge/data/test_no_reverb", "--score_metrics", "sisdr", "--dnsmos_metrics", ""],
               recipe_dir)
    assert proc.returncode == 0, proc.stdout
    name = "dns_challenge_data_test_no_reverb"
    keys = [f"fileid_{i:04d}" for i in dns.test_fileids]
    for system in ("warmup", "mal"):
        enhanced = read_scp(exp / "enhanced" / name / system / "wav.scp")
        assert sorted(enhanced) == keys and all(Path(p).is_file() for p in enhanced.values())
    for system in ("noisy", "warmup", "mal"):
        assert sorted(read_scp(exp / "scores" / name / system / "sisdr")) == keys
    assert f"## {name}" in (recipe_dir / "RESULTS.md").read_text()


@pytest.fixture()
def small_tree(tmp_path: Path) -> VoiceBankTree:
    return write_voicebank_tree(tmp_path / "db", utts_per_speaker=1, seconds=(0.3, 0.4))


def test_misnamed_folder_fails_naming_what_is_expected_where(small_tree: VoiceBankTree, tmp_path: Path) -> None:
    db = small_tree.root
    (db / "noisy_testset_wav").rename(db / "noisy_testset_wavs")
    shutil.rmtree(db / "trainset_28spk_txt")
    proc = run([RECIPE / "local" / "data.sh", "--db_root", db], tmp_path)
    assert proc.returncode != 0
    assert f"{db}/noisy_testset_wav/ (found 'noisy_testset_wavs' instead: misnamed?)" in proc.stdout
    assert f"{db}/trainset_28spk_txt/" in proc.stdout
    assert f"{db}/clean_testset_wav" not in proc.stdout, "only the missing folders are listed"
    assert not (tmp_path / "data").exists(), "nothing written on error"


def test_layout_hints(small_tree: VoiceBankTree, tmp_path: Path) -> None:
    prep = load_local("prepare_voicebank")
    db = small_tree.root
    folders = prep.expected_folders("28spk", with_text=True)
    prep.check_layout(db, folders)
    with pytest.raises(prep.CorpusError, match=f"point --db_root at {db}"):
        prep.check_layout(db.parent, folders)
    shutil.make_archive(str(db / "clean_testset_wav"), "zip", db, "clean_testset_wav")
    shutil.rmtree(db / "clean_testset_wav")
    with pytest.raises(prep.CorpusError, match="clean_testset_wav.zip is there: unzip it"):
        prep.check_layout(db, folders)
    with pytest.raises(prep.CorpusError, match="directory not found"):
        prep.check_layout(tmp_path / "nowhere", folders)


def test_missing_transcript_or_partner_names_the_file(small_tree: VoiceBankTree, tmp_path: Path) -> None:
    db = small_tree.root
    (db / "testset_txt" / "p257_001.txt").unlink()
    proc = run([RECIPE / "local" / "data.sh", "--db_root", db], tmp_path)
    assert proc.returncode != 0 and f"{db}/testset_txt/p257_001.txt: transcript missing" in proc.stdout
    proc = run([RECIPE / "local" / "data.sh", "--db_root", db, "--text", "false", "--valid_speakers", "p226,p999"], tmp_path)
    assert proc.returncode != 0 and "--valid_speakers: p999 not among the training speakers" in proc.stdout
    (db / "clean_trainset_28spk_wav" / "p230_001.wav").unlink()
    proc = run([RECIPE / "local" / "data.sh", "--db_root", db, "--text", "false"], tmp_path)
    assert proc.returncode != 0
    assert f"{db}/noisy_trainset_28spk_wav/p230_001.wav: no matching {db}/clean_trainset_28spk_wav/p230_001.wav" in proc.stdout


def test_download_unpacks_the_official_zips(small_tree: VoiceBankTree, tmp_path: Path) -> None:
    """--download true with a stand-in wget that serves the zips from a local folder."""
    server = tmp_path / "server"
    server.mkdir()
    for i, name in enumerate(VB_FOLDERS):
        with zipfile.ZipFile(server / f"{name}.zip", "w") as z:
            for f in sorted((small_tree.root / name).iterdir()):  # odd zips put the files at the top
                z.write(f, f.name if i == 0 else f"{name}/{f.name}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "wget").write_text(f'#!/bin/sh\n# wget -c -O OUT URL\necho "$4" >> {tmp_path}/urls\ncp "{server}/$(basename "$4")" "$3"\n')
    (bin_dir / "wget").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    proc = run([RECIPE / "local" / "data.sh", "--db_root", tmp_path / "downloaded", "--download", "true"], work, path_first=[bin_dir])
    assert proc.returncode == 0, proc.stdout
    urls = (tmp_path / "urls").read_text().split()
    assert urls == [f"https://datashare.ed.ac.uk/bitstream/handle/10283/2791/{n}.zip" for n in
                    ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "clean_testset_wav", "noisy_testset_wav",
                     "trainset_28spk_txt", "testset_txt")]
    for name in VB_FOLDERS:
        assert sorted(p.name for p in (tmp_path / "downloaded" / name).iterdir()) == \
            sorted(p.name for p in (small_tree.root / name).iterdir())
    assert validate_data_dir(work / "data" / "test", sample_rate=16000) == []


def test_paper_configs_build_and_fine_tuning_is_comparable() -> None:
    configs = {p.stem: load_config(p) for p in sorted((RECIPE / "conf").glob("*.yaml"))}
    assert set(configs) == {"warmup", "mal", "mal_frozen_fe", "mal_dynamic", "continued"}
    warmup = configs.pop("warmup")
    model = build_model(warmup["model"]["name"], **warmup["model"]["conf"])
    assert 10e6 < sum(p.numel() for p in model.parameters()) < 100e6, "paper scale"
    assert {c["train"]["max_steps"] for c in configs.values()} == {20000}
    for name, config in configs.items():
        assert config["model"] == warmup["model"], f"{name}: --init needs the warm-up architecture"
        assert config["train"]["best_metric"] == "valid_sisdr" and not config["train"]["init_optimizer"], name
        CombinedLoss(config["criterions"]).attach(model)
    variants = {n: c["criterions"][0]["conf"]["variant"] for n, c in configs.items() if n.startswith("mal")}
    assert variants == {"mal": "frozen", "mal_frozen_fe": "frozen-fe", "mal_dynamic": "dynamic"}
    assert [c["name"] for c in configs["continued"]["criterions"]] == [c["name"] for c in warmup["criterions"]]
    run_sh = (RECIPE / "run.sh").read_text()
    for name in ("continued", "mal_frozen_fe", "mal_dynamic"):
        assert f"{name}=conf/{name}.yaml" in run_sh


def test_cost_estimate_counts_recurrent_layers(tmp_path: Path, capsys) -> None:
    cost = load_local("estimate_training_cost")
    lstm = torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True)
    # per frame: 2 directions x 2 x 4 gates x 16 x (input + 16), input 8 then 32
    assert cost.rnn_flops(lstm, frames=10, batch=3) == 3 * 10 * 2 * 2 * 4 * 16 * ((8 + 16) + (32 + 16))
    config = tmp_path / "small.yaml"
    config.write_text("model: {name: demucs, conf: {hidden: 4, depth: 2, lstm_layers: 1}}\n"
                      "criterions: [{name: l1}]\nbatch: {batch_size: 4, segment_seconds: 1.0}\ntrain: {max_epochs: 2}\n")
    assert cost.main(["--config", str(config)]) == 1 and "give --num-utts" in capsys.readouterr().err
    estimate = cost.estimate(load_config(config), num_utts=10, probe_seconds=0.25)
    assert estimate["steps"] == 2 * 3 and estimate["total_flops"] == pytest.approx(6 * estimate["step_flops"])
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:  # what the counter alone sees of one 0.25 s item
        build_model("demucs", hidden=4, depth=2, lstm_layers=1)(torch.randn(1, 4000)).abs().mean().backward()
    assert estimate["step_flops"] > 4 * 4 * counter.get_total_flops(), "batch 4 x (1 s / 0.25 s), plus the LSTM"
    assert cost.main(["--config", str(config), "--num-utts", "10", "--tflops", "1", "--probe-seconds", "0.25"]) == 0
    out = capsys.readouterr().out
    assert f"= {cost.scaled(estimate['step_flops'])}; 6 steps = " in out and "at 1 TFLOP/s sustained" in out
