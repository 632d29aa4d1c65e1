"""The training loop in-process: learning, files, max_steps, NaN guard, --init + MAL, averaging."""
from __future__ import annotations

import csv
import math

import pytest
import torch
import yaml

from helpers.configs import run_args, tiny_config, write_config
from mal.bin.train import main
from mal.models.checkpoint import load_checkpoint
from mal.models.pretrained import load_model
from mal.train.config import build_config
from mal.train.expdir import update_best
from mal.train.optim import LRSchedule
from mal.train.trainer import Trainer


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def trainer_for(tmp_path, data_dirs, out="exp", init=None, resume=False, **sections):
    config = build_config(tiny_config(**sections))
    return Trainer(config, data_dirs[0], data_dirs[1], tmp_path / out, init=init, resume=resume, device="cpu")


def test_tiny_model_learns_and_writes_the_experiment_dir(tmp_path, data_dirs):
    config = write_config(tmp_path / "c.yaml", train={"max_epochs": 4, "keep_nbest": 2, "seed": 0, "amp": True})
    assert main(run_args(config, data_dirs, tmp_path / "exp")) == 0
    exp = tmp_path / "exp"
    rows = read_log(exp / "log.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4] and [int(r["step"]) for r in rows] == [2, 4, 6, 8]
    assert {"train_loss", "train_l1", "valid_loss", "valid_l1", "valid_sisdr", "valid_sisdri", "lr", "bad_steps", "seconds", "cpu_seconds"} <= set(rows[0])
    assert all(float(r["cpu_seconds"]) > 0 for r in rows)  # the epoch's CPU time is measured
    valid = [float(r["valid_loss"]) for r in rows]
    assert valid[-1] < 0.9 * valid[0], valid  # validation loss falls
    assert float(rows[-1]["valid_sisdri"]) > float(rows[0]["valid_sisdri"])
    # the N best epochs are kept, and model.pth is the best of them
    best = min(range(4), key=lambda i: valid[i]) + 1
    assert sorted(p.name for p in exp.glob("epoch*.pth")) == sorted(f"epoch{e}.pth" for e in sorted(range(1, 5), key=lambda i: valid[i - 1])[:2])
    model, state = load_model(exp / "model.pth")
    assert state["epoch"] == best
    epoch_state = load_checkpoint(exp / f"epoch{best}.pth")
    for k, v in model.state_dict().items():
        assert torch.equal(v, epoch_state["model"]["state_dict"][k])
    assert yaml.safe_load((exp / "config.yaml").read_text())["train"]["max_epochs"] == 4
    log = (exp / "train.log").read_text()
    assert "epoch 4 done" in log and "train.amp ignored" in log
    assert not list(exp.glob(".*tmp*"))
    # the checkpoint's RNG state and everything else load with weights_only=True
    ckpt = load_checkpoint(exp / "checkpoint.pth")
    assert ckpt["epoch"] == 4 and ckpt["step"] == 8 and isinstance(ckpt["rng"]["torch"], torch.Tensor)


def test_existing_run_needs_resume_and_a_finished_resume_only_rewrites_model(tmp_path, data_dirs, capsys):
    config = write_config(tmp_path / "c.yaml", train={"max_epochs": 1})
    args = run_args(config, data_dirs, tmp_path / "exp")
    assert main(args) == 0
    assert main(args) == 1
    assert "checkpoint.pth exists: pass --resume" in capsys.readouterr().err
    before = load_checkpoint(tmp_path / "exp" / "checkpoint.pth")
    (tmp_path / "exp" / "model.pth").unlink()
    assert main(args + ["--resume"]) == 0
    assert load_checkpoint(tmp_path / "exp" / "checkpoint.pth")["step"] == before["step"]
    assert (tmp_path / "exp" / "model.pth").is_file()


@pytest.mark.parametrize("max_steps, steps_per_epoch, rows", [(5, None, [2, 4, 5]), (7, 3, [3, 6, 7])])
def test_max_steps_is_exact(tmp_path, data_dirs, max_steps, steps_per_epoch, rows):
    trainer = trainer_for(tmp_path, data_dirs, train={"max_epochs": 100, "max_steps": max_steps, "steps_per_epoch": steps_per_epoch})
    trainer.run()
    ckpt = load_checkpoint(tmp_path / "exp" / "checkpoint.pth")
    assert ckpt["step"] == max_steps
    adam_steps = {int(s["step"]) for s in trainer.optimizer.state_dict()["state"].values()}
    assert adam_steps == {max_steps}  # the optimiser really stepped exactly max_steps times
    assert [int(r["step"]) for r in read_log(tmp_path / "exp" / "log.csv")] == rows


def test_nan_steps_are_skipped_and_counted(tmp_path, data_dirs, register_criteria):
    trainer = trainer_for(tmp_path, data_dirs, criterions=[{"name": "nan_every", "conf": {"period": 3}}], train={"max_epochs": 4})
    trainer.run()
    rows = read_log(tmp_path / "exp" / "log.csv")
    # 8 batches, calls 3 and 6 are NaN: 2 skipped, 6 optimiser steps
    assert [int(r["bad_steps"]) for r in rows] == [0, 1, 2, 2]
    assert int(rows[-1]["step"]) == 6
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert (tmp_path / "exp" / "train.log").read_text().count("non-finite loss") == 2


@pytest.mark.parametrize("criterion, message", [("always_nan", "non-finite loss"), ("nan_gradient", "non-finite gradient norm")])
def test_persistent_nan_stops_with_a_clear_error(tmp_path, data_dirs, register_criteria, capsys, criterion, message):
    config = write_config(tmp_path / "c.yaml", criterions=[{"name": criterion}], train={"max_epochs": 5, "nan_tolerance": 3})
    assert main(run_args(config, data_dirs, tmp_path / "exp")) == 1
    err = capsys.readouterr().err
    assert "mal-train: error: 3 consecutive training steps had a non-finite loss or gradient (train.nan_tolerance=3)" in err
    assert message in err
    assert not (tmp_path / "exp" / "model.pth").exists()


def test_init_then_mal_attach_order_fresh_optimizer_and_resume(tmp_path, data_dirs):
    warm = trainer_for(tmp_path, data_dirs, out="warmup", train={"max_epochs": 2})
    warm.run()
    warm_weights = load_checkpoint(tmp_path / "warmup" / "model.pth")["model"]["state_dict"]
    mal = [{"name": "mal", "conf": {"variant": "frozen", "layers": "all"}}]
    fine = trainer_for(tmp_path, data_dirs, out="mal", init=tmp_path / "warmup" / "model.pth", criterions=mal, train={"max_epochs": 2})
    fine.run()
    frozen = fine.criterion.losses[0].frozen.state_dict()
    for k, v in warm_weights.items():  # MAL snapshot = the warm-up model, not the random init
        assert torch.equal(frozen[k], v), k
    assert any(not torch.equal(p.detach(), warm_weights[k]) for k, p in fine.model.state_dict().items())  # it trained
    assert {int(s["step"]) for s in fine.optimizer.state_dict()["state"].values()} == {4}  # a fresh Adam
    assert yaml.safe_load((tmp_path / "mal" / "config.yaml").read_text())["criterions"][0]["conf"]["variant"] == "frozen"
    # resuming (and extending) the MAL run keeps the warm-up encoder as the target
    more = trainer_for(tmp_path, data_dirs, out="mal", init=tmp_path / "warmup" / "model.pth", resume=True, criterions=mal, train={"max_epochs": 3})
    more.run()
    frozen = more.criterion.losses[0].frozen.state_dict()
    assert all(torch.equal(frozen[k], v) for k, v in warm_weights.items())
    assert load_checkpoint(tmp_path / "mal" / "checkpoint.pth")["step"] == 6


def test_frozen_fe_trains_only_the_decoder(tmp_path, data_dirs):
    trainer_for(tmp_path, data_dirs, out="warmup", train={"max_epochs": 1}).run()
    init = tmp_path / "warmup" / "model.pth"
    fine = trainer_for(tmp_path, data_dirs, out="fe", init=init, criterions=[{"name": "mal", "conf": {"variant": "frozen-fe"}}], train={"max_epochs": 2})
    fine.run()
    warm_model, _ = load_model(init)
    enc = {id(p) for p in fine.model.encoder_parameters()}
    assert sum(p.numel() for g in fine.optimizer.param_groups for p in g["params"]) == sum(p.numel() for p in fine.model.decoder_parameters())
    for (name, p), (_, q) in zip(fine.model.named_parameters(), warm_model.named_parameters()):
        assert torch.equal(p.detach(), q) == (id(p) in enc), name


def test_init_optimizer(tmp_path, data_dirs, capsys):
    trainer_for(tmp_path, data_dirs, out="warmup", train={"max_epochs": 1}).run()
    fine = trainer_for(tmp_path, data_dirs, out="a", init=tmp_path / "warmup" / "checkpoint.pth", train={"max_epochs": 1, "init_optimizer": True})
    fine.run()
    assert {int(s["step"]) for s in fine.optimizer.state_dict()["state"].values()} == {4}  # 2 warm-up + 2 here
    config = write_config(tmp_path / "c.yaml", train={"max_epochs": 1, "init_optimizer": True})
    assert main(run_args(config, data_dirs, tmp_path / "b", "--init", str(tmp_path / "warmup" / "model.pth"))) == 1
    assert "holds no optimiser state" in capsys.readouterr().err
    other = write_config(tmp_path / "o.yaml", model={"name": "tiny", "conf": {"channels": 4}})
    assert main(run_args(other, data_dirs, tmp_path / "c", "--init", str(tmp_path / "warmup" / "model.pth"))) == 1
    assert "weights do not fit the configured model" in capsys.readouterr().err


def test_average_nbest_model_is_the_mean_of_the_kept_epochs(tmp_path, data_dirs):
    trainer_for(tmp_path, data_dirs, train={"max_epochs": 3, "keep_nbest": 2, "average_nbest": True}).run()
    exp = tmp_path / "exp"
    kept = sorted(exp.glob("epoch*.pth"))
    assert len(kept) == 2
    states = [load_checkpoint(p)["model"]["state_dict"] for p in kept]
    final = load_checkpoint(exp / "model.pth")
    assert sorted(final["averaged_epochs"]) == sorted(int(p.stem[5:]) for p in kept)
    for k, v in final["model"]["state_dict"].items():
        torch.testing.assert_close(v, (states[0][k] + states[1][k]) / 2)


def test_lr_schedules():
    base = {"warmup_steps": 4, "min_lr": 0.0, "factor": 0.5, "patience": 1, "threshold": 0.0}
    cosine = LRSchedule(dict(base, name="cosine"), 1.0, total_steps=14)
    lrs = [cosine.lr_at(s) for s in range(15)]
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # linear warm-up
    assert lrs[9] == pytest.approx(0.5) and lrs[14] == pytest.approx(0.0)  # half way / end of the cosine
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    plateau = LRSchedule(dict(base, name="plateau", warmup_steps=0), 1.0, None)
    for metric in (1.0, 0.9, 0.95, 0.95, 0.95, 0.95):
        plateau.epoch_end(metric)
    assert plateau.lr_at(100) == pytest.approx(0.25)  # halved after 2 bad epochs, twice
    restored = LRSchedule(dict(base, name="plateau"), 1.0, None)
    restored.load_state_dict(plateau.state_dict())
    assert restored.lr_at(100) == plateau.lr_at(100)


def test_update_best_keeps_n_and_handles_nan():
    best, kept = update_best([], 1, 0.5, keep=2, mode="min")
    best, kept = update_best(best, 2, 0.4, 2, "min")
    best, kept = update_best(best, 3, float("nan"), 2, "min")
    assert not kept and [b[0] for b in best] == [2, 1]
    best, kept = update_best(best, 4, 0.1, 2, "min")
    assert kept and [b[0] for b in best] == [4, 2]
    best, _ = update_best([[1, 3.0]], 2, 5.0, 1, "max")
    assert best == [[2, 5.0]] and not math.isnan(best[0][1])


def test_recipe_flow_warmup_then_mal_finetune_through_the_cli(tmp_path, data_dirs):
    """Stage 3 (l1 + mrstft warm-up) then stage 4 (MAL fine-tune with --init), as mal.sh runs them."""
    warm_cfg = write_config(tmp_path / "warmup.yaml", criterions=[
        {"name": "l1", "weight": 1.0}, {"name": "mrstft", "weight": 1.0, "conf": {"fft_sizes": [256, 512, 128]}}],
        train={"max_epochs": 3})
    assert main(run_args(warm_cfg, data_dirs, tmp_path / "warmup")) == 0
    warm_rows = read_log(tmp_path / "warmup" / "log.csv")
    assert {"train_l1", "train_mrstft", "valid_l1", "valid_mrstft"} <= set(warm_rows[0])
    mal_cfg = write_config(tmp_path / "mal.yaml", criterions=[{"name": "mal", "conf": {"variant": "frozen", "layers": [-1]}}],
                           train={"max_epochs": 50, "max_steps": 6, "best_metric": "valid_sisdri"}, optim={"lr": 1.0e-3})
    args = run_args(mal_cfg, data_dirs, tmp_path / "mal", "--init", str(tmp_path / "warmup" / "model.pth"))
    assert main(args) == 0
    rows = read_log(tmp_path / "mal" / "log.csv")
    assert int(rows[-1]["step"]) == 6 and "valid_mal" in rows[0]
    mal_losses = [float(r["valid_mal"]) for r in rows]
    assert mal_losses[-1] < mal_losses[0]  # fine-tuning lowers the encoder-feature distance
    recorded = yaml.safe_load((tmp_path / "mal" / "config.yaml").read_text())["criterions"][0]["conf"]
    assert recorded["variant"] == "frozen" and recorded["layers"] == [-1]
    model, state = load_model(tmp_path / "mal" / "model.pth")
    assert state["config"]["criterions"][0]["name"] == "mal"
