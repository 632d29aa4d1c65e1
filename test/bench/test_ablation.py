"""bench.ablation on a tiny generated corpus: runs, caches, selects on valid only, reports."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch
import yaml

from bench.ablation.cli import get_parser, main
from bench.ablation.report import seed_summary, select_branch
from bench.ablation.runner import Context, score_set
from bench.ablation.sweep import load_sweep, selected_rows
from helpers.audio import SR
from helpers.datadir import make_data_dir
from mal.io.scp import read_scp
from mal.models.checkpoint import load_checkpoint
from mal.train.config import build_config
from mal.train.trainer import train

ROOT = Path(__file__).resolve().parents[2]


BASE = {
    "sample_rate": SR,
    "criterions": [
        {"name": "mal", "weight": 1.0, "conf": {"variant": "frozen", "layers": "all", "distance": "l1"}},
        {"name": "l1", "weight": 1.0},
    ],
    "optim": {"name": "adam", "lr": 1.0e-3},
    "batch": {"batch_size": 2, "segment_seconds": 0.5, "valid_batch_size": 4},
    "train": {"amp": False},
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Data, a 2-step tiny warm-up (model.pth + checkpoint.pth) and one full bench run."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ablation")
    data = root / "data"
    for name, num, seed, snr in (("train", 6, 0, 5.0), ("valid", 4, 1, 5.0), ("test", 4, 2, 5.0), ("test_ood", 4, 3, 0.0)):
        make_data_dir(data / name, num, seconds=1.0, seed=seed, snr_db=snr)
    exp = root / "exp"
    warmup = dict(BASE, model={"name": "tiny", "conf": {"channels": 8, "depth": 2}}, criterions=[{"name": "l1"}],
                  train={"max_steps": 2, "steps_per_epoch": 2, "max_epochs": 1, "amp": False})
    train(build_config(warmup), data / "train", data / "valid", exp / "warmup", device="cpu")
    sweep = root / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "base": BASE, "steps": 2, "seed": 3,
        "branches": [
            {"name": "mal", "group": "base"},
            {"name": "conv_weq", "group": "weight", "conventional_weight": "equal"},
            {"name": "lr_high", "group": "lr", "overrides": ["optim.lr=1.0e-2"]},
        ],
    }, sort_keys=False))
    out = root / "out"
    argv = ["--sweep", str(sweep), "--exp", str(exp), "--data", str(data), "--out", str(out), "--eval-utts", "3",
            "--dnsmos-utts", "0", "--trainer-valid-utts", "2", "--grad-batches", "2", "--branches", "noisy,warmup,mal,conv_weq"]
    assert main(argv) == 0
    return {"root": root, "data": data, "exp": exp, "sweep": sweep, "out": out, "argv": argv}


def result(out: Path, name: str) -> dict:
    return json.loads((out / "branches" / name / "result.json").read_text())


def test_runs_every_requested_row_with_the_same_steps(setup):
    out = setup["out"]
    for name in ("noisy", "warmup", "continued", "mal", "conv_weq"):  # continued: the reference, added
        r = result(out, name)
        assert set(r["sets"]) == {"valid", "test", "test_ood"}
        for s in r["sets"].values():
            assert len(s["scores"]["pesq_wb"]) == 3 and len(s["scores"]["estoi"]) == 3 and len(s["scores"]["sisdr"]) == 3
    assert not (out / "branches" / "lr_high").exists() and not (out / "branches" / "deep_feature").exists()
    for name in ("continued", "mal", "conv_weq"):
        with open(out / "branches" / name / "train" / "log.csv") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["step"]) for r in rows] == [2]  # exactly `steps` optimiser steps, one epoch
        assert result(out, name)["train_seconds"] > 0
    # continued continues the warm-up's loss; the branches keep MAL
    assert [c["name"] for c in result(out, "continued")["config"]["criterions"]] == ["l1"]
    assert [c["name"] for c in result(out, "mal")["config"]["criterions"]] == ["mal", "l1"]
    # the enhanced wavs are gone once scored; noisy is the input itself (higher SI-SDR than nothing)
    assert not (out / "branches" / "mal" / "enhanced").exists()


def test_equal_weight_comes_from_the_stored_gradient_ratio(setup):
    ratios = yaml.safe_load((setup["out"] / "grad_ratio.yaml").read_text())
    (entry,) = ratios.values()
    assert len(entry["mal_decoder_grad_norm"]) == 2 and all(v > 0 for v in entry["mal_decoder_grad_norm"])
    factor = entry["equalising_conventional_weight"]
    assert factor == pytest.approx(np.mean(entry["mal_decoder_grad_norm"]) / np.mean(entry["conventional_decoder_grad_norm"]), rel=1e-4)
    weights = {c["name"]: c["weight"] for c in result(setup["out"], "conv_weq")["config"]["criterions"]}
    assert weights == {"mal": 1.0, "l1": pytest.approx(factor)}


def test_grad_ratio_mode_prints_and_stores(setup, capsys):
    argv = [a for a in setup["argv"] if a not in ("--branches", "noisy,warmup,mal,conv_weq")]
    assert main(argv + ["--grad-ratio"]) == 0
    assert "base: decoder gradient norm ratio" in capsys.readouterr().out
    assert main(argv + ["--grad-ratio", "--branches", "lr_high"]) == 0  # per branch (its warm-up and loss)
    assert "lr_high: decoder gradient norm ratio" in capsys.readouterr().out


def test_rerun_skips_finished_rows(setup):
    out = setup["out"]
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("branches/*/result.json")}
    models = {p: p.stat().st_mtime_ns for p in out.glob("branches/*/train/model.pth")}
    assert main(setup["argv"]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert {p: p.stat().st_mtime_ns for p in models} == models
    # without its result, a trained branch is scored again but not retrained
    (out / "branches" / "mal" / "result.json").unlink()
    assert main(setup["argv"]) == 0
    assert (out / "branches" / "mal" / "result.json").is_file()
    assert {p: p.stat().st_mtime_ns for p in models} == models


def test_changed_branch_config_is_an_error_not_a_silent_reuse(setup, tmp_path, capsys):
    sweep = yaml.safe_load(setup["sweep"].read_text())
    sweep["branches"][0]["overrides"] = ["optim.lr=5.0e-4"]
    changed = tmp_path / "sweep.yaml"
    changed.write_text(yaml.safe_dump(sweep))
    argv = list(setup["argv"])
    argv[argv.index("--sweep") + 1] = str(changed)
    argv[argv.index("--branches") + 1] = "mal"
    assert main(argv) == 1
    assert "branch 'mal'" in capsys.readouterr().err


def write_scores(out: Path, name: str, set_name: str, value: float) -> None:
    """Overwrite one row's per-utterance PESQ-WB and ESTOI of a set with a constant."""
    path = out / "branches" / name / "result.json"
    r = json.loads(path.read_text())
    for metric in ("pesq_wb", "estoi"):
        scores = r["sets"][set_name]["scores"][metric]
        r["sets"][set_name]["scores"][metric] = {k: value for k in scores}
    path.write_text(json.dumps(r))


def test_selection_reads_valid_only(setup):
    """mal best on valid, conv_weq best on both test sets: mal is selected."""
    out = setup["out"]
    for s, (mal, weq, cont) in {"valid": (3.0, 2.0, 1.0), "test": (1.0, 3.0, 2.0), "test_ood": (1.0, 3.0, 2.0)}.items():
        write_scores(out, "mal", s, mal)
        write_scores(out, "conv_weq", s, weq)
        write_scores(out, "continued", s, cont)
    assert main(setup["argv"] + ["--report-only"]) == 0
    md = (out / "ablation.md").read_text()
    assert "**mal** (selected)" in md and "conv_weq** (selected)" not in md
    assert "valid +2.000" in md  # mal - continued on valid, paired over the same utterances
    # a valid-only change flips the choice; a test-only change does not
    write_scores(out, "conv_weq", "valid", 3.5)
    write_scores(out, "mal", "test", 4.0)
    assert main(setup["argv"] + ["--report-only"]) == 0
    assert "**conv_weq** (selected)" in (out / "ablation.md").read_text()


def test_writes_markdown_csv_and_png(setup):
    out = setup["out"]
    assert main(setup["argv"] + ["--report-only"]) == 0
    md = (out / "ablation.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| group"))
    assert "valid PESQ-WB" in header and "test_ood ESTOI" in header and "fine-tune s" in header
    assert all(f"| {n} |" in md or f"| **{n}** (selected) |" in md for n in ("noisy", "warmup", "continued", "mal", "conv_weq"))
    assert "Not run yet: deep_feature, lr_high" in md
    with open(out / "ablation.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["system"], r["set"]) for r in rows} == {(n, s) for n in ("noisy", "warmup", "continued", "mal", "conv_weq")
                                                       for s in ("valid", "test", "test_ood")}
    mal_valid = next(r for r in rows if r["system"] == "mal" and r["set"] == "valid")
    cont_valid = next(r for r in rows if r["system"] == "continued" and r["set"] == "valid")
    assert float(mal_valid["d_pesq_wb"]) == pytest.approx(float(mal_valid["pesq_wb"]) - float(cont_valid["pesq_wb"]))
    image = matplotlib.image.imread(out / "ablation.png")
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_select_branch_ties_broken_by_estoi():
    def r(pesq: float, estoi: float, ref: str = "continued") -> dict:
        return {"reference": ref, "sets": {"valid": {"scores": {"pesq_wb": {"a": pesq, "b": pesq}, "estoi": {"a": estoi, "b": estoi}}}}}

    results = {"continued": r(2.0, 0.5, None), "x": r(2.1, 0.50), "y": r(2.1, 0.55), "z": r(2.05, 0.9)}
    assert select_branch(results, ["x", "y", "z"]) == "y"
    assert select_branch(results, ["x", "y", "z"], "test") is None


def test_select_branch_skips_a_branch_whose_reference_has_not_run():
    def r(pesq: float, ref: str = "continued") -> dict:
        return {"reference": ref, "sets": {"valid": {"scores": {"pesq_wb": {"a": pesq}, "estoi": {"a": 0.5}}}}}

    # an absolute score (3.0) must never be ranked against gains over a reference (+0.1)
    results = {"continued": r(2.0, None), "x": r(2.1), "other_family": r(3.0, "continued_other")}
    assert select_branch(results, ["x", "other_family"]) == "x"
    assert select_branch(results, ["other_family"]) is None


def test_dnsmos_subset_is_scored(setup):
    data = setup["data"]
    args = get_parser().parse_args(["--sweep", "s", "--exp", "e", "--data", str(data)])
    ctx = Context(args, None, data, setup["out"], ["test"], eval_keys={"test": ["utt2_000", "utt2_001"]}, dnsmos_keys={"test": ["utt2_001"]})
    scored = score_set(read_scp(data / "test" / "wav.scp"), ctx, "test")
    assert set(scored["scores"]["dnsmos_ovrl"]) == {"utt2_001"} and 1.0 <= scored["scores"]["dnsmos_ovrl"]["utt2_001"] <= 5.0
    assert set(scored["scores"]["pesq_wb"]) == {"utt2_000", "utt2_001"}


@pytest.mark.parametrize("sweep_file", ["sweep.yaml", "sweep_gpu.yaml"])
def test_recipe_sweeps_build_every_branch(setup, sweep_file, capsys):
    """A dry run of the recipe's sweep files: every branch config is built and checked."""
    path = ROOT / "egs" / "mini_offline" / "conf" / sweep_file
    argv = ["--sweep", str(path), "--exp", str(setup["exp"]), "--data", str(setup["data"]), "--out", str(setup["root"] / "dry"), "--list"]
    assert main(argv) == 0
    listing = capsys.readouterr().out
    for name in ("continued", "deep_feature", "frozen_fe", "conv_weq", "adam_carried", "continued_demucs", "warmup_demucs_noskip", "conv_w3", "mal_seed2"):
        assert f" {name} " in listing


def test_long_sweep_builds_its_branches_at_1800_steps(setup, capsys):
    """conf/full/sweep_long.yaml (MAL at 20% of the warm-up): every branch is built from the
    long preset's MAL config and fine-tunes 1,800 steps."""
    path = ROOT / "egs" / "mini_offline" / "conf" / "full" / "sweep_long.yaml"
    sweep = load_sweep(path, setup["exp"], setup["root"] / "dry_long")
    rows = {b.name: b for b in sweep.rows}
    for name in ("mal", "mal_seed2", "mal_seed3", "continued", "continued_seed2", "continued_seed3", "frozen_fe", "dynamic", "paper"):
        assert rows[name].config["train"]["max_steps"] == 1800, name
    assert rows["mal_seed3"].reference == "continued_seed3" and rows["mal_seed3"].config["train"]["seed"] == 3
    assert rows["mal"].config["dynamic_mixing"]["noise_scp"] == "data/full/train_noise/wav.scp"
    assert [c["weight"] for c in rows["paper"].config["criterions"]][1:] == [0.0, 0.0]


def test_bad_branch_key_names_the_branch(tmp_path, setup, capsys):
    sweep = tmp_path / "bad.yaml"
    sweep.write_text(yaml.safe_dump({"base": BASE, "branches": [{"name": "x", "overides": ["optim.lr=1"]}]}))
    argv = ["--sweep", str(sweep), "--exp", str(setup["exp"]), "--data", str(setup["data"]), "--list"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "branch 'x'" in err and "overides" in err


def test_branches_run_in_the_given_order_then_their_references(setup):
    sweep = load_sweep(setup["sweep"], setup["exp"], setup["out"])
    rows = selected_rows(sweep, "lr_high,mal,noisy")
    assert [b.name for b in rows] == ["lr_high", "mal", "noisy", "continued"]
    assert [b.name for b in selected_rows(sweep, None)][:4] == ["noisy", "warmup", "continued", "deep_feature"]


def test_a_branch_may_change_its_seed(setup, tmp_path):
    sweep = tmp_path / "seed.yaml"
    sweep.write_text(yaml.safe_dump({"base": BASE, "steps": 2, "seed": 3, "branches": [
        {"name": "mal", "group": "base"},
        {"name": "continued_seed7", "group": "seed", "overrides": ["train.seed=7"]},
        {"name": "mal_seed7", "group": "seed", "reference": "continued_seed7", "overrides": ["train.seed=7"]}]}))
    loaded = load_sweep(sweep, setup["exp"], tmp_path / "out")
    seeds = {b.name: b.config["train"]["seed"] for b in loaded.rows if b.trains}
    assert seeds == {"continued": 3, "deep_feature": 3, "mal": 3, "continued_seed7": 7, "mal_seed7": 7}
    assert [c["name"] for c in loaded.row("continued_seed7").config["criterions"]] == ["l1"]  # the warm-up loss
    assert loaded.row("mal_seed7").reference == "continued_seed7" and loaded.row("continued_seed7").kind == "reference"


def test_branch_specific_warmup_is_trained_once_with_its_own_reference(setup, tmp_path, capsys):
    warmup = dict(BASE, model={"name": "tiny", "conf": {"channels": 8, "depth": 1}}, criterions=[{"name": "l1"}])
    spec = {"base": BASE, "steps": 2, "seed": 3, "warmups": {"shallow": {"config": warmup, "steps": 2}},
            "branches": [{"name": "mal_shallow", "group": "family", "warmup": "shallow"}]}
    sweep = tmp_path / "family.yaml"
    sweep.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    argv = ["--sweep", str(sweep), "--exp", str(setup["exp"]), "--data", str(setup["data"]), "--out", str(out),
            "--eval-utts", "1", "--dnsmos-utts", "0", "--trainer-valid-utts", "1", "--sets", "valid", "--branches", "mal_shallow"]
    assert main(argv) == 0
    model = out / "warmups" / "shallow" / "model.pth"
    stamp = model.stat().st_mtime_ns
    assert result(out, "mal_shallow")["reference"] == "continued_shallow"
    assert result(out, "continued_shallow")["init"] == str(model)
    assert main(argv) == 0 and model.stat().st_mtime_ns == stamp  # cached
    spec["warmups"]["shallow"]["steps"] = 3  # a changed warm-up is not silently reused
    sweep.write_text(yaml.safe_dump(spec))
    assert main(argv) == 1
    assert "warm-up 'shallow'" in capsys.readouterr().err


def test_seed_summary_reports_the_gain_per_seed_and_its_spread(setup, tmp_path):
    sweep_file = tmp_path / "seeds.yaml"
    sweep_file.write_text(yaml.safe_dump({"base": BASE, "steps": 2, "branches": [
        {"name": "mal", "group": "base"},
        {"name": "continued_seed2", "group": "seed", "overrides": ["train.seed=2"]},
        {"name": "mal_seed2", "group": "seed", "reference": "continued_seed2", "overrides": ["train.seed=2"]}]}))
    sweep = load_sweep(sweep_file, setup["exp"], tmp_path / "out")

    def r(pesq: float) -> dict:
        return {"sets": {"valid": {"scores": {m: {"a": pesq, "b": pesq + 0.1} for m in ("pesq_wb", "estoi", "sisdr")}}}}

    results = {"continued": r(2.0), "mal": r(2.3), "continued_seed2": r(2.5), "mal_seed2": r(2.6)}
    text = seed_summary(sweep, results, ["valid"])
    assert "| mal | continued | +0.300 |" in text and "| mal_seed2 | continued_seed2 | +0.100 |" in text
    assert f"+0.200 ± {np.std([0.3, 0.1], ddof=1):.3f}" in text


def test_jobs_share_the_rows_and_match_a_single_process_run(setup, tmp_path):
    """--jobs 2: two workers take warm-ups and rows nobody holds; every row runs once and gives
    the same scores as the single-process run of the fixture (same seed, same data)."""
    sweep = yaml.safe_load(setup["sweep"].read_text())
    tiny = {"model": {"name": "tiny", "conf": {"channels": 8, "depth": 2}}, "criterions": [{"name": "l1"}],
            "optim": BASE["optim"], "batch": BASE["batch"], "sample_rate": SR, "train": {"amp": False}}
    sweep["warmups"] = {"other": {"config": tiny, "steps": 2}}
    sweep["branches"].append({"name": "mal_other", "group": "warmup", "warmup": "other"})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    out = tmp_path / "out"
    argv = ["--sweep", str(path), "--exp", str(setup["exp"]), "--data", str(setup["data"]), "--out", str(out),
            "--eval-utts", "3", "--dnsmos-utts", "0", "--trainer-valid-utts", "2", "--grad-batches", "2",
            "--branches", "noisy,warmup,mal,lr_high,mal_other", "--jobs", "2"]
    assert main(argv) == 0
    for name in ("noisy", "warmup", "continued", "mal", "lr_high", "mal_other", "continued_other"):
        assert (out / "branches" / name / "result.json").is_file(), name
    assert (out / "warmups" / "other" / "model.pth").is_file()
    logs = [(out / f"worker_{i}.log").read_text() for i in (1, 2)]
    trained = [line for log in logs for line in log.splitlines() if "fine-tuning" in line and "branch '" in line]
    assert sorted(line.split("branch '")[1].split("'")[0] for line in trained) == sorted(
        ["continued", "mal", "lr_high", "mal_other", "continued_other"])  # each row trained exactly once
    ours = load_checkpoint(out / "branches" / "mal" / "train" / "model.pth")["model"]["state_dict"]
    single = load_checkpoint(setup["out"] / "branches" / "mal" / "train" / "model.pth")["model"]["state_dict"]
    assert ours.keys() == single.keys() and all(torch.equal(ours[k], single[k]) for k in ours)
    assert "mal_other" in (out / "ablation.md").read_text()
    # a changed warm-up spec is an error in the workers too, not a silent reuse of the old one
    sweep["warmups"]["other"]["steps"] = 3
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    assert main(argv) == 1
    assert "warm-up 'other'" in (out / "worker_1.log").read_text() + (out / "worker_2.log").read_text()


def test_a_branch_may_train_on_another_data_dir(setup, tmp_path, capsys):
    """``train_set``: the branch trains on that dir under --data (recorded in its spec, so it
    differs from a branch on --train-set), shown by --list; a missing dir fails naming it."""
    make_data_dir(setup["data"] / "train_other", 4, seconds=1.0, seed=9, snr_db=0.0)
    sweep = tmp_path / "data.yaml"
    sweep.write_text(yaml.safe_dump({"base": BASE, "steps": 2, "seed": 3, "branches": [
        {"name": "other_data", "group": "data", "criterions": [{"name": "l1"}], "train_set": "train_other"},
        {"name": "same_data", "group": "data", "criterions": [{"name": "l1"}]}]}))
    out = tmp_path / "out"
    argv = ["--sweep", str(sweep), "--exp", str(setup["exp"]), "--data", str(setup["data"]), "--out", str(out),
            "--eval-utts", "2", "--dnsmos-utts", "0", "--trainer-valid-utts", "2", "--sets", "valid"]
    assert main(argv + ["--list"]) == 0
    assert "train_set=train_other" in capsys.readouterr().out
    assert main(argv + ["--branches", "other_data,same_data"]) == 0
    spec = {n: json.loads((out / "branches" / n / "spec.json").read_text()) for n in ("other_data", "same_data")}
    assert spec["other_data"]["train_set"] == "train_other" and "train_set" not in spec["same_data"]
    assert spec["other_data"]["config"] == spec["same_data"]["config"] and spec["other_data"]["fingerprint"] != spec["same_data"]["fingerprint"]
    weights = [load_checkpoint(out / "branches" / n / "train" / "model.pth")["model"]["state_dict"] for n in ("other_data", "same_data")]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    sweep.write_text(yaml.safe_dump({"base": BASE, "steps": 2, "branches": [
        {"name": "missing", "criterions": [{"name": "l1"}], "train_set": "no_such_dir"}]}))
    assert main(argv + ["--branches", "missing"]) == 1
    assert "no_such_dir" in capsys.readouterr().err


def test_a_train_set_must_be_a_relative_dir(setup, tmp_path, capsys):
    sweep = tmp_path / "abs.yaml"
    sweep.write_text(yaml.safe_dump({"base": BASE, "branches": [{"name": "x", "criterions": [{"name": "l1"}], "train_set": "/abs/dir"}]}))
    assert main(["--sweep", str(sweep), "--exp", str(setup["exp"]), "--data", str(setup["data"]), "--list"]) == 1
    assert "branch 'x'" in capsys.readouterr().err


def test_data_sweep_builds_its_branches_from_the_long_sweeps_start(setup, capsys):
    """conf/full/sweep_data.yaml: every branch continues the warm-up loss for 1,800 steps with the
    config of sweep_long.yaml's `continued` row but the one ingredient it names."""
    conf = ROOT / "egs" / "mini_offline" / "conf" / "full"
    data = load_sweep(conf / "sweep_data.yaml", setup["exp"], setup["root"] / "dry_data")
    long = load_sweep(conf / "sweep_long.yaml", setup["exp"], setup["root"] / "dry_long")
    continued = long.row("continued").config
    warmup_loss = yaml.safe_load((conf / "warmup.yaml").read_text())["criterions"]
    branches = [b for b in data.rows if b.group == "data"]
    assert len(branches) >= 4
    for b in branches:
        assert b.reference == "continued" and b.config["train"]["max_steps"] == 1800
        assert b.config["criterions"] == warmup_loss  # the shipped model's warm-up loss, as `continued` continues it
        assert {k: v for k, v in b.config.items() if k != "dynamic_mixing" and k != "criterions"} == \
            {k: v for k, v in continued.items() if k not in ("dynamic_mixing", "criterions")}, b.name
    assert data.row("aug_colored").config["dynamic_mixing"]["generated_noise_prob"] == 0.15
