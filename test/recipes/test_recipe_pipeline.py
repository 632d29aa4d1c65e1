"""The default recipe through every stage at a tiny size, and a re-run of single stages.

The recipe runs in a temporary copy of egs/mini_offline whose mal.sh, path.sh, utils/ and local/
link to the repository's, with tiny configs (a small TFMaskNet, 2 optimiser steps per system).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from mal.io import read_scp
from mal.io.validate import validate_data_dir
from mal.score.summary import read_scores_dir

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs" / "mini_offline"
SETS = ("test", "test_ood", "test_real")
SYSTEMS = ("warmup", "mal", "continued", "deep_feature")
TAG = "warmup"
#: The recipe's first three test sets and two cheapest peers (test_ambient/test_colored are built and
#: checked in test_mini_offline_data.py, nsnet2/dfn3 in test/enhance/test_peers.py).
SMALL = ("--test_sets", " ".join(SETS), "--peer_systems", "rnnoise noisereduce")
#: The fixture's scoring options; a re-run that repeats them reuses its scores.
SCORING = ("--dnsmos_metrics", "dnsmos_sig,dnsmos_bak,dnsmos_ovrl", "--dnsmos_max_utts", "1")
#: run.sh calls are killed after this long: far above any honest run (see _run).
HANG_GUARD_SECONDS = 3600

MODEL = {"name": "tfmask", "conf": {"channels": [4, 8], "rnn_hidden": 16}}
COMMON = {
    "batch": {"batch_size": 2, "segment_seconds": 1.0, "valid_batch_size": 2},
    "optim": {"name": "adam", "lr": 1.0e-3},
}
CONFIGS = {
    "warmup": {"model": MODEL, "criterions": [{"name": "l1"}, {"name": "mrstft"}],
               "train": {"max_epochs": 1, "steps_per_epoch": 2}},
    "mal": {"criterions": [{"name": "mal", "conf": {"variant": "frozen", "layers": "all"}}, {"name": "l1"}],
            "train": {"max_epochs": 2, "max_steps": 2, "steps_per_epoch": 1}},
    "continued": {"criterions": [{"name": "l1"}, {"name": "mrstft"}],
                  "train": {"max_epochs": 2, "max_steps": 2, "steps_per_epoch": 1}},
    "deep_feature": {"criterions": [{"name": "deep_feature", "conf": {"network": "ge2e"}}, {"name": "l1"}],
                     "train": {"max_epochs": 2, "max_steps": 2, "steps_per_epoch": 1}},
}

def _make_recipe(root: Path) -> Path:
    recipe = root / "recipe"
    (recipe / "conf").mkdir(parents=True)
    for name, target in (("mal.sh", REPO / "egs/TEMPLATE/mal.sh"), ("path.sh", REPO / "egs/TEMPLATE/path.sh"),
                         ("utils", REPO / "utils"), ("local", RECIPE / "local")):
        os.symlink(target, recipe / name)
    shutil.copy(RECIPE / "cmd.sh", recipe / "cmd.sh")
    shutil.copy(RECIPE / "run.sh", recipe / "run.sh")
    for name, config in CONFIGS.items():
        (recipe / "conf" / f"{name}.yaml").write_text(yaml.safe_dump({**COMMON, **config}))
    return recipe


def _run(recipe: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env["MAL_CMD_BACKEND"] = "local"
    # A hang guard, not a time limit. The fixture's run (stages 1-8), niced, took 24.7 min on a
    # 2-core machine loaded by other test runs (load average 8-12; not measured idle): stage 5
    # (enhancement, 10.4 min) and 6 (scoring, 9.6 min) start a process per system and set.
    proc = subprocess.run(["./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True, timeout=HANG_GUARD_SECONDS)
    if check and proc.returncode != 0:
        raise AssertionError(f"run.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    """The recipe's stages 1-8 at a tiny size (its data comes from the flite and espeak-ng voices)."""
    if shutil.which("flite") is None or shutil.which("espeak-ng") is None:
        pytest.skip("flite/espeak-ng not installed (make -C tools debian)")
    recipe = _make_recipe(tmp_path_factory.mktemp("mini"))
    audio = recipe / "downloads"
    out = _run(recipe, "--local_data_opts",
               f"--num_train 4 --num_valid 2 --num_test 2 --num_test_ood 2 --num_test_real 2 --audio_dir {audio} "
               "--num_noise_clips 2 --num_train_rooms 2 --sets train,valid,test,test_ood,test_real",
               *SMALL, "--nj", "1", "--test_max_utts", "1", *SCORING, "--num_report_utts", "1", "--self_consistency_passes", "1",
               "--score_asr", "true", "--asr_test_sets", "test_ood", "--asr_max_utts", "2",
               "--train_args", "train.max_steps=1")  # one optimiser step per system; one job per stage and system
    (recipe / "run.log").write_text(out.stdout + out.stderr)
    return recipe


def test_every_stage_wrote_its_outputs(recipe_run):
    recipe, exp = recipe_run, recipe_run / "exp" / TAG
    for dset in ("train", "valid", *SETS):
        assert validate_data_dir(recipe / "data" / dset, sample_rate=16000) == []
        assert (recipe / "data" / dset / "utt2num_samples").is_file()
    for system in SYSTEMS:
        assert (exp / system / "model.pth").is_file(), system
        saved = yaml.safe_load((exp / system / "config.yaml").read_text())
        assert saved["model"]["name"] == "tfmask"
        assert saved["train"]["max_steps"] == 1, system  # --train_args
    mal_conf = yaml.safe_load((exp / "mal" / "config.yaml").read_text())
    assert mal_conf["criterions"][0]["conf"]["variant"] == "frozen"
    for dset in SETS:
        # --test_max_utts 1: stages 5-7 read a one-utterance subset of the two-utterance set
        keys = list(read_scp(exp / "data" / dset / "wav.scp"))
        assert len(keys) == 1 and set(keys) < set(read_scp(recipe / "data" / dset / "wav.scp"))
        for system in SYSTEMS:
            enhanced = read_scp(exp / "enhanced" / dset / system / "wav.scp")
            assert list(enhanced) == keys
            assert all(Path(p).is_file() for p in enhanced.values())
        for system in ("rnnoise", "noisereduce"):  # the peers enhance every key too
            assert list(read_scp(exp / "enhanced" / dset / system / "wav.scp")) == keys
        for system in ("noisy", "rnnoise", "noisereduce", *SYSTEMS):
            scores = read_scores_dir(exp / "scores" / dset / system)
            assert set(scores.values["pesq_wb"]) | set(scores.failure_reasons("pesq_wb")) == set(keys)
            assert len(scores.values["dnsmos_ovrl"]) == 1  # --dnsmos_max_utts 1
            assert (exp / "scores" / dset / system / "summary.yaml").is_file()
    results = (recipe / "RESULTS.md").read_text()
    for dset in SETS:
        assert f"## {dset}" in results
    table = results.split("## test_ood\n", 1)[1].split("## ", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("|") and not line.startswith("|---")]
    assert rows == ["system", "noisy", "rnnoise", "noisereduce", "warmup", "continued", "deep_feature", "mal", "clean"]
    header = [c.strip() for c in table.splitlines()[[i for i, l in enumerate(table.splitlines()) if l.startswith("|")][0]].split("|")]
    assert "wer" in header and "cer" in header
    for system in ("clean", "noisy", *SYSTEMS):  # downstream ASR on the subset's utterance of test_ood
        assert len(read_scores_dir(exp / "scores" / "test_ood" / system).values["wer"]) == 1
    assert not (exp / "scores" / "test" / "noisy" / "wer").exists()
    assert (exp / "report" / "index.html").is_file()
    for system in ("warmup", "mal"):
        assert (exp / "self_consistency" / "test" / system / "drift.csv").is_file()
    archive = exp / "packed" / "mal.tar.gz"
    with tarfile.open(archive) as tar:
        assert {"model.pth", "config.yaml", "RESULTS.md"} <= {Path(n).name for n in tar.getnames()}
    assert (exp / "run.sh").is_file()
    # --train_args made every system run one step, and stage 4 says so (not the YAMLs' 2)
    assert "all fine-tuning systems run 1 steps (with --override train.max_steps=1)" in (recipe / "run.log").read_text()


def test_packed_model_enhances_a_file(recipe_run, tmp_path):
    exp = recipe_run / "exp" / TAG
    noisy = next(iter(read_scp(recipe_run / "data" / "test" / "wav.scp").values()))
    env = dict(os.environ, MAL_CACHE_DIR=str(tmp_path / "cache"))
    subprocess.run([str(REPO / "tools/venv/bin/mal-enhance"), "--model", str(exp / "packed" / "mal.tar.gz"),
                    noisy, str(tmp_path / "out.wav")], check=True, env=env, capture_output=True)
    import soundfile as sf

    assert sf.info(str(tmp_path / "out.wav")).frames == sf.info(noisy).frames


def test_single_stages_rerun_without_redoing_others(recipe_run):
    exp = recipe_run / "exp" / TAG
    wavs = sorted((exp / "enhanced" / "test" / "mal" / "logdir").glob("output.*/wav/*.wav"))
    models = sorted(exp.glob("*/model.pth"))
    before = {p: p.stat().st_mtime_ns for p in wavs + models}
    out = _run(recipe_run, "--stage", "5", "--stop_stage", "6", *SMALL, *SCORING, "--test_max_utts", "1", "--nj", "1")  # the fixture's jobs
    assert "Stage 3" not in out.stdout and "Stage 4" not in out.stdout
    assert {p: p.stat().st_mtime_ns for p in wavs + models} == before  # enhancement reused, no retraining
    # finished enhancement and scoring are reused without starting a job (3 sets x 6 systems, + noisy)
    assert out.stdout.count("done already with this model, input and options; reusing") == 3 * 6
    assert out.stdout.count("scored already with these options; reusing") == 3 * 7
    # what lost its stamp is redone, and only that
    (exp / "scores" / "test" / "mal" / ".scored").unlink()
    out = _run(recipe_run, "--stage", "6", "--stop_stage", "6", *SMALL, *SCORING, "--test_max_utts", "1", "--nj", "1")
    scored = [line for line in out.stdout.splitlines() if " score " in line and "jobs, logs" in line]
    assert len(scored) == 1 and "score test/mal (1 jobs" in scored[0], scored
    assert (exp / "scores" / "test" / "mal" / ".scored").is_file()
    assert list(read_scp(exp / "enhanced" / "test" / "mal" / "wav.scp")) == list(read_scp(exp / "data/test/wav.scp"))
    assert "## test_ood" in (recipe_run / "RESULTS.md").read_text()
    # Re-running training stages skips finished systems instead of retraining them.
    out = _run(recipe_run, "--stage", "3", "--stop_stage", "4")
    assert out.stdout.count("exists; skipping") == len(SYSTEMS)
    assert {p: p.stat().st_mtime_ns for p in models} == {p: before[p] for p in models}


def test_help_and_unknown_option(recipe_run):
    out = _run(recipe_run, "--help")
    for option in ("--stage", "--stop_stage", "--nj", "--ngpu", "--train_config", "--mal_config", "--expdir", "--test_sets"):
        assert option in out.stdout
    bad = _run(recipe_run, "--no_such_option", "1", check=False)
    assert bad.returncode != 0 and "no_such_option" in bad.stderr


def test_mismatched_finetune_steps_fail_before_training(recipe_run, tmp_path):
    conf = recipe_run / "conf" / "continued_longer.yaml"
    config = yaml.safe_load((recipe_run / "conf" / "continued.yaml").read_text())
    config["train"]["max_steps"] = 5
    conf.write_text(yaml.safe_dump(config))
    bad = _run(recipe_run, "--stage", "4", "--stop_stage", "4", "--tag", "mismatch", "--expdir", str(tmp_path),
               "--baseline_configs", f"continued={conf}", check=False)
    assert bad.returncode != 0
    assert "max_steps" in bad.stdout + bad.stderr


@pytest.mark.parametrize("finetune_jobs", ["0", "1"])  # all at once (CPU default) / one at a time (GPU default)
def test_failing_finetune_job_is_named_and_the_others_finish(recipe_run, tmp_path, finetune_jobs):
    conf = recipe_run / "conf" / "broken.yaml"
    config = yaml.safe_load((recipe_run / "conf" / "continued.yaml").read_text())
    config["criterions"] = [{"name": "no_such_loss"}]
    conf.write_text(yaml.safe_dump(config))
    (tmp_path / "t" / "warmup").mkdir(parents=True)
    shutil.copy(recipe_run / "exp" / TAG / "warmup" / "model.pth", tmp_path / "t" / "warmup" / "model.pth")
    bad = _run(recipe_run, "--stage", "4", "--stop_stage", "4", "--tag", "t", "--expdir", str(tmp_path),
               "--finetune_jobs", finetune_jobs, "--baseline_configs", f"broken={conf} continued=conf/continued.yaml",
               check=False)
    assert bad.returncode != 0
    assert f"broken: training failed; see {tmp_path}/t/log/train_broken.log" in bad.stderr
    assert "no_such_loss" in (tmp_path / "t" / "log" / "train_broken.log").read_text()
    assert not (tmp_path / "t" / "broken" / "model.pth").exists()
    for system in ("mal", "continued"):  # the other systems still trained
        assert (tmp_path / "t" / system / "model.pth").is_file(), system


def test_setup_sh_makes_a_new_recipe(tmp_path):
    target = tmp_path / "my_corpus"
    subprocess.run([str(REPO / "egs/TEMPLATE/setup.sh"), str(target)], check=True, capture_output=True)
    for name in ("mal.sh", "path.sh", "utils"):
        assert (target / name).is_symlink() and (target / name).exists(), name
    for name in ("cmd.sh", "run.sh", "local/data.sh", "conf/warmup.yaml", "conf/mal.yaml"):
        assert (target / name).is_file(), name
    out = subprocess.run(["./run.sh", "--help"], cwd=target, capture_output=True, text=True)
    assert out.returncode == 0 and "--stop_stage" in out.stdout
    stage1 = subprocess.run(["./run.sh", "--stage", "1", "--stop_stage", "1"], cwd=target, capture_output=True, text=True)
    assert stage1.returncode != 0 and "db_root" in stage1.stderr
