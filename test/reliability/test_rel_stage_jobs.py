"""egs/TEMPLATE/mal.sh stage 5 (enhancement) with run.pl when one job fails: the stage fails
naming the job and its log and merges nothing; after the input is fixed, re-running the stage
produces only what is missing or broken (every other output keeps its inode and mtime).
(slurm.pl reports a failed task the same way: test/utils/test_slurm_pl.py.)"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from mal.io import read_scp
from rel_helpers import noisy_clean_set, read_wav, snapshot, tiny_checkpoint

REPO = Path(__file__).resolve().parents[2]
KEYS = [f"utt{i}" for i in range(1, 7)]  # 2 jobs: utt1-utt3 and utt4-utt6
BAD = "utt5"  # job 2 fails on it, after utt4 is done
SYSTEMS = ("warmup", "mal")


def make_recipe(root: Path) -> Path:
    recipe = root / "recipe"
    recipe.mkdir()
    for name, target in (("mal.sh", "egs/TEMPLATE/mal.sh"), ("path.sh", "egs/TEMPLATE/path.sh"), ("utils", "utils")):
        os.symlink(REPO / target, recipe / name)
    shutil.copy(REPO / "egs/TEMPLATE/cmd.sh", recipe / "cmd.sh")
    scps = noisy_clean_set(root / "audio", KEYS, num_samples=4000)
    data = recipe / "data" / "test"
    data.mkdir(parents=True)
    shutil.copy(scps["noisy"], data / "wav.scp")
    shutil.copy(scps["clean"], data / "spk1.scp")
    for seed, system in enumerate(SYSTEMS):
        tiny_checkpoint(recipe / "exp" / "warmup" / system / "model.pth", seed=seed)
    return recipe


def run_stage5(recipe: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env.update(MAL_CMD_BACKEND="local", OMP_NUM_THREADS="1")
    return subprocess.run(["./mal.sh", "--stage", "5", "--stop_stage", "5", "--nj", "2"], cwd=recipe, env=env,
                          capture_output=True, text=True, timeout=300)


def outputs(recipe: Path, system: str) -> dict:
    """key -> output wav path, over every job's output dir."""
    logdir = recipe / "exp" / "warmup" / "enhanced" / "test" / system / "logdir"
    return {p.stem: p for p in sorted(logdir.glob("output.*/wav/*.wav"))}


def test_failed_job_is_named_and_a_rerun_redoes_only_missing_or_broken_outputs(tmp_path):
    recipe = make_recipe(tmp_path)
    wav = Path(read_scp(recipe / "data" / "test" / "wav.scp")[BAD])
    hidden = wav.with_name("moved-away.wav")
    wav.rename(hidden)

    first = run_stage5(recipe)
    text = first.stdout + first.stderr
    logdir = recipe / "exp" / "warmup" / "enhanced" / "test" / "warmup" / "logdir"
    assert first.returncode != 0, text
    assert "run.pl: 1 / 2 failed" in text and "JOB=2 (code 1)" in text, text
    assert f"first failed log {logdir.relative_to(recipe)}/enhance.2.log ends with:" in text, text
    assert f"utterance '{BAD}'" in text and "file not found" in text, text  # the log's last lines, shown
    assert f"utterance '{BAD}'" in (logdir / "enhance.2.log").read_text()
    assert "ERROR: enhance: a job failed" in text
    assert not (recipe / "exp" / "warmup" / "enhanced" / "test" / "warmup" / "wav.scp").exists()
    assert (logdir / "output.1" / "wav.scp").exists() and not (logdir / "output.2" / "wav.scp").exists()
    done = outputs(recipe, "warmup")
    assert sorted(done) == ["utt1", "utt2", "utt3", "utt4"]
    assert not outputs(recipe, "mal"), "the stage must stop at the failed job"

    # Fix the input; meanwhile one finished output got cut short (e.g. a copy that ran out of disk).
    hidden.rename(wav)
    broken = done["utt2"]
    broken.write_bytes(broken.read_bytes()[:1000])
    kept = {k: p for k, p in done.items() if k != "utt2"}
    before = snapshot(kept.values())

    second = run_stage5(recipe)
    assert second.returncode == 0, second.stdout + second.stderr
    after = outputs(recipe, "warmup")
    assert sorted(after) == KEYS
    assert snapshot(after[k] for k in kept) == before, "finished outputs must not be redone"
    assert len(read_wav(after["utt2"])) == 4000, "the broken output must be redone"
    for system in SYSTEMS:
        merged = read_scp(recipe / "exp" / "warmup" / "enhanced" / "test" / system / "wav.scp", require_sorted=True)
        assert list(merged) == KEYS
        for key, path in merged.items():
            out = read_wav(path)
            assert out.shape == (4000,) and np.isfinite(out).all()
    # the two systems really are two models
    assert not np.array_equal(read_wav(outputs(recipe, "warmup")["utt1"]), read_wav(outputs(recipe, "mal")["utt1"]))
