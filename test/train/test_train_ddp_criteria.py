"""Two gloo torchrun processes with MAL (every variant), the GE2E deep-feature loss, a criterion that
yields NaN, and --resume: each run ends with the weights of the same run in one process."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from helpers.configs import run_args, write_config
from mal.models.pretrained import load_model
from mal.train.config import load_config
from mal.train.trainer import train

HERE = Path(__file__).resolve().parent
#: mal-train with the misbehaving test criteria registered (torchrun starts fresh interpreters).
LAUNCHER = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from mal.losses import LOSS_REGISTRY
LOSS_REGISTRY["nan_every"] = "train_criteria:NaNEvery"
from mal.bin.train import main
sys.exit(main(sys.argv[1:]))
"""
MODEL = {"name": "demucs", "conf": {"hidden": 4, "depth": 2, "lstm_layers": 1}}


def torchrun(tmp_path: Path, args: List[str]) -> str:
    launcher = tmp_path / "launch_train.py"
    launcher.write_text(LAUNCHER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(launcher), *args]
    proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert proc.stdout.count("mal-train: wrote") == 2, proc.stdout[-3000:]
    return proc.stdout


def rows(exp: Path) -> List[Dict[str, str]]:
    with open(exp / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_same_weights(a: Path, b: Path) -> None:
    model_a, _ = load_model(a)
    model_b, _ = load_model(b)
    for (name, x), (_, y) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("criterions", [
    [{"name": "mal", "tag": "mal_frozen", "conf": {"variant": "frozen"}},
     {"name": "mal", "tag": "mal_dynamic", "conf": {"variant": "dynamic"}},
     {"name": "deep_feature", "conf": {"network": "ge2e"}}],
    [{"name": "mal", "conf": {"variant": "frozen-fe"}}, {"name": "nan_every", "conf": {"period": 3}}],
], ids=["frozen-dynamic-ge2e", "frozen_fe-nan"])
def test_ddp_matches_one_process(tmp_path, data_dirs, criterions, register_criteria):
    config = write_config(tmp_path / "c.yaml", model=MODEL, criterions=criterions,
                          train={"max_epochs": 2, "seed": 1, "keep_nbest": 1})
    torchrun(tmp_path, run_args(config, data_dirs, tmp_path / "ddp"))
    train(load_config(config), *data_dirs, tmp_path / "single", device="cpu")
    assert_same_weights(tmp_path / "single" / "model.pth", tmp_path / "ddp" / "model.pth")
    ddp, single = rows(tmp_path / "ddp"), rows(tmp_path / "single")
    assert [(r["step"], r["bad_steps"]) for r in ddp] == [(r["step"], r["bad_steps"]) for r in single]
    for a, b in zip(single, ddp):
        for key in [k for k in a if k.startswith(("train_", "valid_"))]:
            assert float(b[key]) == pytest.approx(float(a[key]), rel=1e-4, abs=1e-5), key
    if criterions[-1]["name"] == "nan_every":
        assert int(ddp[-1]["bad_steps"]) > 0  # the NaN steps were skipped by both ranks alike


def test_resume_under_torchrun(tmp_path, data_dirs):
    criterions = [{"name": "mal", "conf": {"variant": "frozen"}}, {"name": "l1"}]
    config = write_config(tmp_path / "c.yaml", model=MODEL, criterions=criterions, train={"max_epochs": 2, "seed": 1})
    first = load_config(config)
    first["train"]["max_epochs"] = 1
    train(first, *data_dirs, tmp_path / "ddp", device="cpu")  # epoch 1 in one process (same global batches)
    out = torchrun(tmp_path, run_args(config, data_dirs, tmp_path / "ddp", "--resume"))
    assert "resuming from" in out
    assert [int(r["epoch"]) for r in rows(tmp_path / "ddp")] == [1, 2]
    train(load_config(config), *data_dirs, tmp_path / "single", device="cpu")
    assert_same_weights(tmp_path / "single" / "model.pth", tmp_path / "ddp" / "model.pth")
