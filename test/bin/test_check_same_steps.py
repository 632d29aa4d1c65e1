"""python -m mal.bin.check_same_steps: mal.sh's stage-4 check that fine-tuning systems are comparable."""
from __future__ import annotations

import subprocess
import sys

from mal.bin.check_same_steps import main


def write(path, text):
    path.write_text(text)
    return f"{path.stem}={path}"


def test_equal_steps_pass_and_print_them(tmp_path, capsys):
    a = write(tmp_path / "mal.yaml", "train: {max_steps: 300, seed: 1}\n")
    b = write(tmp_path / "continued.yaml", "optim: {lr: 1.0e-4}\ntrain: {max_steps: 300}\n")
    assert main([a, b]) == 0
    assert capsys.readouterr().out == "all fine-tuning systems run 300 steps\n"


def test_different_or_missing_steps_fail_naming_every_system(tmp_path, capsys):
    a = write(tmp_path / "mal.yaml", "train: {max_steps: 300}\n")
    b = write(tmp_path / "continued.yaml", "train: {max_steps: 200}\n")
    c = write(tmp_path / "deep.yaml", "optim: {lr: 1.0e-4}\n")
    assert main([a, b]) == 1
    assert "same train.max_steps to be comparable: {'mal': 300, 'continued': 200}" in capsys.readouterr().err
    assert main([a, c]) == 1
    assert "{'mal': 300, 'deep': None}" in capsys.readouterr().err


def test_bad_files_are_one_line_errors(tmp_path, capsys):
    a = write(tmp_path / "mal.yaml", "train: {max_steps: 300}\n")
    assert main([a, f"x={tmp_path / 'nope.yaml'}"]) == 1
    assert capsys.readouterr().err.strip() == f"check_same_steps: error: {tmp_path / 'nope.yaml'}: config file not found"
    assert main([a, write(tmp_path / "bad.yaml", "train: [\n")]) == 1
    err = capsys.readouterr().err.strip()
    assert "bad.yaml: not valid YAML" in err and "\n" not in err


def test_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "mal.bin.check_same_steps", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "NAME=CONFIG" in done.stdout


def test_train_args_overrides_give_the_effective_steps(tmp_path, capsys):
    """mal.sh passes --train_args as --override: the log names what the systems really run."""
    a = write(tmp_path / "mal.yaml", "train: {max_steps: 300}\n")
    b = write(tmp_path / "continued.yaml", "train: {max_steps: 300}\n")
    assert main([a, b, "--override", "train.max_steps=3", "optim.lr=1e-4"]) == 0
    assert capsys.readouterr().out == "all fine-tuning systems run 3 steps (with --override train.max_steps=3 optim.lr=1e-4)\n"
    c = write(tmp_path / "deep.yaml", "optim: {lr: 1.0e-4}\n")  # no max_steps of its own: the override sets it
    assert main([a, c, "--override", "train.max_steps=3"]) == 0
    assert main([a, b, "--override", "train.max_steps"]) == 1
    assert "expected key.sub=value" in capsys.readouterr().err


def test_a_duplicate_key_is_refused(tmp_path, capsys):
    a = write(tmp_path / "mal.yaml", "train: {max_steps: 300}\ntrain: {seed: 1}\n")
    assert main([a]) == 1
    assert capsys.readouterr().err.strip() == f"check_same_steps: error: {tmp_path / 'mal.yaml'}: not valid YAML: duplicate key 'train' on line 2 (first on line 1)"
