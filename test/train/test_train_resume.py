"""Crash safety: kill mal-train mid-run (during a checkpoint write, at a random moment), --resume,
and end with exactly the weights of an uninterrupted run."""
from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from helpers.configs import run_args, write_config
from mal.models.checkpoint import load_checkpoint
from mal.train.config import load_config
from mal.train.trainer import train

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
EPOCHS, STEPS = 4, 4  # the random kill lands after epoch 2, with two epochs still to run
#: Hang guards for the subprocesses (not time limits: a loaded machine may be many times slower).
HANG_GUARD_SECONDS = 900

#: Runs mal-train, but dies hard (os._exit, no cleanup: like SIGKILL) half-way through writing
#: the second checkpoint.pth, leaving a half-written temporary file behind.
DIE_IN_CHECKPOINT_WRITE = """
import os, sys, torch
real_save, seen = torch.save, []
def save(obj, f, *a, **k):
    if ".checkpoint.pth." in str(f):
        seen.append(f)
        if len(seen) == 2:
            real_save(obj, f, *a, **k)
            data = open(f, "rb").read()
            open(f, "wb").write(data[: len(data) // 2])
            os._exit(137)
    return real_save(obj, f, *a, **k)
torch.save = save
from mal.bin.train import main
sys.exit(main(sys.argv[1:]))
"""


def start(args, log, code=None):
    prog = ["-c", code] if code else ["-m", "mal.bin.train"]
    return subprocess.Popen([sys.executable, *prog, *args], stdout=log, stderr=subprocess.STDOUT, env=ENV)


def wait_for_line(path: Path, text: str, proc, timeout=HANG_GUARD_SECONDS) -> None:
    end = time.time() + timeout
    while not (path.exists() and text in path.read_text()):
        assert proc.poll() is None, f"trainer exited ({proc.returncode}) before logging {text!r}"
        assert time.time() < end, f"{text!r} never appeared in {path}"
        time.sleep(0.002)


def check_final_files_intact(exp: Path) -> None:
    """Whatever a kill left behind, every final-named file is complete (temporaries may remain)."""
    for p in [exp / "checkpoint.pth", exp / "model.pth", *exp.glob("epoch*.pth")]:
        if p.exists():
            load_checkpoint(p)  # raises CheckpointError on a truncated file
    assert yaml.safe_load((exp / "config.yaml").read_text())["train"]["seed"] == 3
    if (exp / "log.csv").exists():
        rows = list(csv.DictReader(open(exp / "log.csv")))
        assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))


def log_rows(exp: Path):
    return [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds")} for r in csv.DictReader(open(exp / "log.csv"))]


def test_kill_and_resume_gives_the_uninterrupted_weights(tmp_path, data_dirs):
    config = write_config(
        tmp_path / "c.yaml",
        model={"name": "tiny", "conf": {"channels": 32, "depth": 2}},
        train={"max_epochs": EPOCHS, "steps_per_epoch": STEPS, "seed": 3, "keep_nbest": 2, "average_nbest": True, "deterministic": True},
        scheduler={"name": "cosine", "warmup_steps": 3},
    )
    ref, exp = tmp_path / "ref", tmp_path / "killed"
    train(load_config(config), *data_dirs, ref, device="cpu")  # uninterrupted, in this process (1 thread)
    epoch_seconds = sum(float(r["seconds"]) for r in csv.DictReader(open(ref / "log.csv"))) / EPOCHS

    with open(tmp_path / "killed.log", "w") as log:
        # 1. dies while writing the second checkpoint.pth: the first one must survive intact
        proc = start(run_args(config, data_dirs, exp), log, DIE_IN_CHECKPOINT_WRITE)
        assert proc.wait(timeout=HANG_GUARD_SECONDS) == 137
        assert len(list(exp.glob(".checkpoint.pth.*"))) == 1  # the half-written temporary
        check_final_files_intact(exp)
        assert load_checkpoint(exp / "checkpoint.pth")["epoch"] == 1
        # 2. resumed, then SIGKILLed at a random moment of a later epoch (a step, validation or a write)
        kill_epoch, fraction = random.randint(2, EPOCHS - 2), random.random()
        proc = start(run_args(config, data_dirs, exp, "--resume"), log)
        wait_for_line(exp / "train.log", f"epoch {kill_epoch} done", proc)
        time.sleep(fraction * epoch_seconds)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check_final_files_intact(exp)
        assert not (exp / "model.pth").exists(), "the run ended before the kill"
        # 3. resumed to the end
        proc = start(run_args(config, data_dirs, exp, "--resume"), log)
        assert proc.wait(timeout=HANG_GUARD_SECONDS) == 0, (tmp_path / "killed.log").read_text()

    where = f"second kill {fraction:.2f} of an epoch after epoch {kill_epoch}"
    ref_model = load_checkpoint(ref / "model.pth")["model"]["state_dict"]
    got_model = load_checkpoint(exp / "model.pth")["model"]["state_dict"]
    for key, value in ref_model.items():
        assert torch.equal(value, got_model[key]), f"{key} differs after resuming ({where})"
    assert log_rows(exp) == log_rows(ref), where
    assert sorted(p.name for p in exp.glob("epoch*.pth")) == sorted(p.name for p in ref.glob("epoch*.pth"))
    assert load_checkpoint(exp / "checkpoint.pth")["step"] == load_checkpoint(ref / "checkpoint.pth")["step"] == STEPS * EPOCHS
    assert (exp / "train.log").read_text().count("resuming from") == 2
    assert not list(exp.glob(".*.tmp*"))  # the resumed run removed the killed runs' temporaries
