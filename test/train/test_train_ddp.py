"""Data-parallel training: two torchrun processes on CPU (gloo) train like one process."""
from __future__ import annotations

import csv
import os
import subprocess
import sys

import torch

from helpers.configs import run_args, write_config
from mal.models.checkpoint import load_checkpoint
from mal.models.pretrained import load_model
from mal.train.config import load_config
from mal.train.trainer import train


def test_two_process_torchrun_matches_one_process(tmp_path, data_dirs):
    config = write_config(tmp_path / "c.yaml", train={"max_epochs": 2, "seed": 1, "keep_nbest": 1})
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "mal.bin.train", *run_args(config, data_dirs, tmp_path / "ddp")]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:]
    exp, out = tmp_path / "ddp", proc.stdout[-3000:]
    names = sorted(p.name for p in exp.iterdir())
    assert [n for n in names if not n.startswith("epoch")] == ["checkpoint.pth", "config.yaml", "log.csv", "model.pth", "train.log"], (names, out)
    assert len([n for n in names if n.startswith("epoch")]) == 1, names  # keep_nbest: 1
    assert "2 process(es)" in (exp / "train.log").read_text()
    assert proc.stdout.count("mal-train: wrote") == 2, out  # both ranks finished; rank 0 wrote the files
    ddp_rows = list(csv.DictReader(open(exp / "log.csv")))
    # batch.batch_size is global: 2 processes x 2 utterances, 8 utterances -> 2 steps per epoch
    assert [int(r["step"]) for r in ddp_rows] == [2, 4]

    # The same global batches (DistributedSampler splits the one-process order between ranks) and
    # averaged gradients: one process with the same config ends with (numerically) the same weights.
    train(load_config(config), *data_dirs, tmp_path / "single", device="cpu")
    single, _ = load_model(tmp_path / "single" / "model.pth")
    ddp, _ = load_model(exp / "model.pth")
    for (name, a), (_, b) in zip(single.state_dict().items(), ddp.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    single_rows = list(csv.DictReader(open(tmp_path / "single" / "log.csv")))
    for a, b in zip(single_rows, ddp_rows):
        for key in ("train_loss", "valid_loss", "valid_sisdri"):
            assert abs(float(a[key]) - float(b[key])) <= 1e-4 * max(1.0, abs(float(a[key]))), key
    assert load_checkpoint(exp / "checkpoint.pth")["step"] == 4
