"""Faults of issue #18 through mal-train, mal-pack-model and mal-score: each used to end in a raw
traceback or in a wrong success; now one ``<prog>: error:`` line names the file (and key), and
nothing is written."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers.configs import write_config
from helpers.datadir import make_data_dir
from mal.bin.pack_model import main as pack_main
from mal.bin.score import main as score_main
from mal.bin.train import main as train_main
from mal.io import read_scp
from rel_helpers import noisy_clean_set, tiny_checkpoint


TINY = {"channels": 4, "depth": 2}


def error_line(capsys, prog: str) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith(f"{prog}: error:")]
    assert len(errors) == 1 and not any("Traceback" in line for line in lines), lines
    return errors[0]


# --- mal-train ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    train_dir = make_data_dir(root / "train", num=4, seconds=0.5, seed=0)
    valid_dir = make_data_dir(root / "valid", num=2, seconds=0.5, seed=1)
    config = write_config(root / "c.yaml", model={"name": "tiny", "conf": TINY},
                          batch={"batch_size": 2, "segment_seconds": 0.25, "num_workers": 0},
                          train={"max_epochs": 1, "steps_per_epoch": 1, "seed": 0, "keep_nbest": 1})
    return root, ["--config", str(config), "--train-dir", str(train_dir), "--valid-dir", str(valid_dir), "--device", "cpu"]


@pytest.mark.parametrize("under", ["a file", "a file's subdir"])
def test_train_out_dir_under_a_regular_file(train_setup, tmp_path, capsys, under):
    _, args = train_setup
    (tmp_path / "notes.txt").write_text("keep me\n")
    out = tmp_path / "notes.txt" if under == "a file" else tmp_path / "notes.txt" / "exp"
    assert train_main(args + ["--out-dir", str(out)]) == 1
    assert f"--out-dir {out}: " in error_line(capsys, "mal-train")
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"


@pytest.mark.parametrize("workers", [0, 2])  # 2: DataLoader forks workers every epoch (a Ctrl-C then may land in a fork hook)
def test_train_ctrl_c_says_how_to_resume(train_setup, tmp_path, workers):
    root, args = train_setup
    out = tmp_path / "exp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "mal.bin.train", *args, "--out-dir", str(out), "--override",
           f"batch.num_workers={workers}", "train.max_epochs=100000"]
    # SIGINT as at a terminal: to the whole process group (loader workers included), even when the
    # suite runs as a background job (which ignores it)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while not (out / "checkpoint.pth").exists():
            assert proc.poll() is None and time.time() < deadline, "no checkpoint.pth written"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:  # never leave an endless training run behind
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "Exception ignored" not in err, err
    assert err.strip().splitlines()[-1].startswith("mal-train: interrupted; resume with --resume")
    resumed = subprocess.run(cmd[:-1] + ["train.max_epochs=1", "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in (out / "train.log").read_text()


def test_train_resume_with_another_model_size_is_one_error_line(train_setup, tmp_path, capsys):
    _, args = train_setup
    out = tmp_path / "exp"
    assert train_main(args + ["--out-dir", str(out)]) == 0
    before = (out / "checkpoint.pth").read_bytes()
    capsys.readouterr()
    assert train_main(args + ["--out-dir", str(out), "--resume", "--override", "model.conf.channels=8"]) == 1
    line = error_line(capsys, "mal-train")
    assert f"{out / 'checkpoint.pth'}: its weights do not fit the configured model (model.conf differs in: channels)" in line
    assert (out / "checkpoint.pth").read_bytes() == before


def test_train_resume_with_nothing_to_resume_says_so_in_the_log(train_setup, tmp_path):
    _, args = train_setup
    out = tmp_path / "exp"
    assert train_main(args + ["--out-dir", str(out), "--resume"]) == 0
    log = (out / "train.log").read_text()
    assert f"WARNING: --resume: nothing to resume (no {out / 'checkpoint.pth'}); training from the start" in log


@pytest.mark.parametrize("override,expected", [
    ("optim.lr=abc", "--override 'optim.lr=abc': 'optim.lr' must be a number, got 'abc'"),
    ("criterions.0.name=mrsftf", "--override 'criterions.0.name=mrsftf': 'criterions[0].name': unknown criterion "
                                 "'mrsftf' (did you mean 'mrstft'?)"),
    ("model.name=tinny", "--override 'model.name=tinny': 'model.name': unknown model 'tinny' (did you mean 'tiny'?)"),
])
def test_train_override_errors_blame_the_override_not_the_file(train_setup, capsys, override, expected):
    _, args = train_setup
    assert train_main(args + ["--print-config", "--override", "train.seed=3", override]) == 1
    line = error_line(capsys, "mal-train")
    assert expected in line and ".yaml" not in line


def test_train_mistyped_criterion_in_the_file_names_the_file(train_setup, tmp_path, capsys):
    root, args = train_setup
    config = tmp_path / "typo.yaml"
    config.write_text((root / "c.yaml").read_text().replace("name: l1", "name: sisdrr"))
    assert train_main(["--config", str(config), "--print-config"]) == 1
    assert f"{config}: 'criterions[0].name': unknown criterion 'sisdrr' (did you mean 'sisdr'?)" in error_line(capsys, "mal-train")


# --- mal-pack-model -----------------------------------------------------------------------------


@pytest.fixture()
def pack_inputs(tmp_path):
    model = tiny_checkpoint(tmp_path / "model.pth", **TINY)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"sample_rate": 16000, "model": {"name": "tiny", "conf": TINY}}))
    return tmp_path, model, config


def _pack(model: Path, config: Path, out: Path) -> int:
    return pack_main(["--model", str(model), "--config", str(config), "--out", str(out)])


def test_pack_out_under_a_file_or_naming_a_directory(pack_inputs, capsys):
    tmp, model, config = pack_inputs
    (tmp / "f.txt").write_text("x")
    assert _pack(model, config, tmp / "f.txt" / "m.tar.gz") == 1
    assert f"{tmp / 'f.txt'} is a file, not a directory" in error_line(capsys, "mal-pack-model")
    (tmp / "packed").mkdir()
    assert _pack(model, config, tmp / "packed") == 1
    assert "is a directory; name the file to write" in error_line(capsys, "mal-pack-model")
    assert list((tmp / "packed").iterdir()) == []
    before = model.read_bytes()
    assert _pack(model, config, model) == 1  # never over an input
    assert "is the model.pth to pack" in error_line(capsys, "mal-pack-model")
    assert model.read_bytes() == before
    assert _pack(model, config, tmp / "packed" / "m.tar.gz") == 0


@pytest.mark.parametrize("model_section,expected", [
    ({"name": "tiny", "conf": {"channels": 8, "depth": 2}}, "model.conf.channels is 8 but"),
    ({"name": "demucs", "conf": {}}, "model.name is 'demucs' but"),
    (None, "no 'model' section"),
])
def test_pack_checks_the_config_fits_the_weights(pack_inputs, capsys, model_section, expected):
    tmp, model, config = pack_inputs
    content = {"sample_rate": 16000, **({"model": model_section} if model_section else {})}
    config.write_text(yaml.safe_dump(content))
    assert _pack(model, config, tmp / "m.tar.gz") == 1
    line = error_line(capsys, "mal-pack-model")
    assert str(config) in line and expected in line
    assert not (tmp / "m.tar.gz").exists()


# --- mal-score ----------------------------------------------------------------------------------


def test_score_fails_naming_reference_keys_without_an_estimate(tmp_path, capsys, caplog):
    keys = [f"u{i}" for i in range(1, 6)]
    scps = noisy_clean_set(tmp_path, keys, num_samples=4000)
    est = tmp_path / "est.scp"
    table = read_scp(scps["noisy"])
    est.write_text("".join(f"{k} {table[k]}\n" for k in keys if k not in ("u2", "u4")))
    args = ["--ref-scp", str(scps["clean"]), "--est-scp", str(est), "--metrics", "sisdr"]
    assert score_main(args + ["--out-dir", str(tmp_path / "s")]) == 1
    line = error_line(capsys, "mal-score")
    assert f"{est}: 2 of the 5 keys of {scps['clean']} missing: 'u2', 'u4'" in line
    assert not (tmp_path / "s" / "sisdr").exists()
    assert score_main(args + ["--out-dir", str(tmp_path / "w"), "--allow-missing"]) == 0  # explicit: warn
    assert "missing: 'u2', 'u4'; scoring the other 3 (--allow-missing)" in caplog.text
    assert sorted(read_scp(tmp_path / "w" / "sisdr")) == ["u1", "u3", "u5"]
