"""mal-train SIGKILLed at each kind of moment, resumed with --resume each time, ends with exactly
the weights, log rows and kept epochs of an uninterrupted run; no final-named file is ever partial.

Moments, one per process of the same run (each resumes from what the previous one left):
during an optimiser step, during validation, while writing epoch<N>.pth, checkpoint.pth,
log.csv and model.pth. (test/train/test_train_resume.py adds a kill at a random moment from
outside, in a separate process.)
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml

import mal.train.expdir as expdir_module
import mal.train.trainer as trainer_module
from helpers.configs import write_config
from helpers.datadir import make_data_dir
from mal.bin.train import main as train_main
from mal.models.checkpoint import load_checkpoint
from mal.train.config import load_config
from mal.train.trainer import train
from rel_helpers import KILLED, kill_in_atomic_open, kill_in_torch_save, kill_on_call, run_forked


EPOCHS, STEPS = 4, 3


@pytest.fixture
def deterministic_off_afterwards():
    yield
    torch.use_deterministic_algorithms(False)


def final_files_intact(exp: Path) -> int:
    """Every final-named file is complete; returns the epoch checkpoint.pth holds (0 if none)."""
    for path in [exp / "checkpoint.pth", exp / "model.pth", *exp.glob("epoch*.pth")]:
        if path.exists():
            load_checkpoint(path)  # CheckpointError on a partial file
    assert yaml.safe_load((exp / "config.yaml").read_text())["train"]["seed"] == 3
    if (exp / "log.csv").exists():
        epochs = [int(r["epoch"]) for r in csv.DictReader(open(exp / "log.csv"))]
        assert epochs == list(range(1, len(epochs) + 1))
    return load_checkpoint(exp / "checkpoint.pth")["epoch"] if (exp / "checkpoint.pth").exists() else 0


def log_rows(exp: Path):
    return [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds")} for r in csv.DictReader(open(exp / "log.csv"))]


def test_sigkill_at_every_kind_of_moment_then_resume_equals_uninterrupted(tmp_path, deterministic_off_afterwards):
    train_dir = make_data_dir(tmp_path / "train", num=6, seconds=0.5, seed=0)
    valid_dir = make_data_dir(tmp_path / "valid", num=3, seconds=0.5, seed=1)
    config = write_config(
        tmp_path / "c.yaml",
        model={"name": "tiny", "conf": {"channels": 8, "depth": 2}},
        criterions=[{"name": "l1"}, {"name": "mrstft", "conf": {"fft_sizes": [256, 128]}}],
        batch={"batch_size": 2, "segment_seconds": 0.25, "num_workers": 0},
        train={"max_epochs": EPOCHS, "steps_per_epoch": STEPS, "seed": 3, "keep_nbest": 2, "average_nbest": True,
               "deterministic": True},
        scheduler={"name": "cosine", "warmup_steps": 2},
    )
    ref, exp = tmp_path / "ref", tmp_path / "killed"
    train(load_config(config), train_dir, valid_dir, ref, device="cpu")
    args = ["--config", str(config), "--train-dir", str(train_dir), "--valid-dir", str(valid_dir),
            "--out-dir", str(exp), "--device", "cpu"]
    log = tmp_path / "killed.log"

    def run(hook, resume=True):
        def target():
            hook()  # patches globals in the child only
            return train_main(args + (["--resume"] if resume else []))

        return run_forked(target, log)

    def at(where: str):
        return f"{where}: see {log}:\n{log.read_text()[-3000:]}"

    # 1. during an optimiser step of epoch 2 (after backward, before the update)
    assert run(lambda: kill_on_call(torch.nn.utils, "clip_grad_norm_", STEPS + 2), resume=False) == KILLED, at("step")
    assert final_files_intact(exp) == 1 and not (exp / "model.pth").exists()
    # 2. during epoch 2's validation (si_sdr is computed twice per validation utterance)
    assert run(lambda: kill_on_call(trainer_module, "si_sdr", 3)) == KILLED, at("validation")
    assert final_files_intact(exp) == 1
    # 3. half-way through writing epoch2.pth
    assert run(lambda: kill_in_torch_save(".epoch2.pth.")) == KILLED, at("epoch file")
    assert final_files_intact(exp) == 1 and not (exp / "epoch2.pth").exists()
    assert list(exp.glob(".epoch2.pth.*")), "the half-written temporary should be there"
    # 4. half-way through writing checkpoint.pth (epoch2.pth is complete by then)
    assert run(lambda: kill_in_torch_save(".checkpoint.pth.")) == KILLED, at("checkpoint")
    assert final_files_intact(exp) == 1 and (exp / "epoch2.pth").exists()
    # 5. half-way through writing log.csv after epoch 2 (the first write of a resumed run restores it)
    assert run(lambda: kill_in_atomic_open(expdir_module, "log.csv", nth=2)) == KILLED, at("log.csv")
    assert final_files_intact(exp) == 2 and len(log_rows(exp)) == 1
    # 6. half-way through writing model.pth, after the last epoch
    assert run(lambda: kill_in_torch_save(".model.pth.")) == KILLED, at("model.pth")
    assert final_files_intact(exp) == EPOCHS and not (exp / "model.pth").exists()
    # 7. resumed to the end
    assert run(lambda: None) == 0, at("final resume")

    ref_state = load_checkpoint(ref / "model.pth")["model"]["state_dict"]
    got_state = load_checkpoint(exp / "model.pth")["model"]["state_dict"]
    assert ref_state.keys() == got_state.keys()
    for key, value in ref_state.items():
        assert torch.equal(value, got_state[key]), f"{key} differs from the uninterrupted run"
    assert log_rows(exp) == log_rows(ref)
    assert sorted(p.name for p in exp.glob("epoch*.pth")) == sorted(p.name for p in ref.glob("epoch*.pth"))
    assert load_checkpoint(exp / "checkpoint.pth")["step"] == EPOCHS * STEPS
    assert (exp / "train.log").read_text().count("resuming from") == 6
    assert not list(exp.glob(".*.tmp*")), "the resumed runs remove the killed runs' temporaries"
