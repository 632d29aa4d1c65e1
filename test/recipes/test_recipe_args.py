"""mal.sh: --train_args / --inference_args / --inference_nj reach the programs; ./run.sh --help
shows the recipe's own defaults. Fake mal-train / mal-enhance on PATH record their command lines."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import List

from helpers.fake_recipe import fake_recipe

REPO = Path(__file__).resolve().parents[2]
RECORD = 'printf "%s\\t%s\\n" "$(basename "$0")" "$*" >> "${FAKE_LOG}"\n'
FAKES = {
    "mal-train": RECORD + 'while [ "$1" != --out-dir ]; do shift; done; mkdir -p "$2"; touch "$2/model.pth"\n',
    "mal-enhance": RECORD + 'while [ "$1" != --out-dir ]; do shift; done; mkdir -p "$2"; : > "$2/wav.scp"\n',
    "nvidia-smi": "exit 9\n",
}


def _recipe(root: Path) -> Path:
    return fake_recipe(root, FAKES, ("warmup", "mal"))


def _calls(root: Path, *args: str) -> List[List[str]]:
    recipe = _recipe(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env["FAKE_LOG"] = str(root / "calls.tsv")
    proc = subprocess.run(["./mal.sh", "--stage", "3", "--stop_stage", "5", "--baseline_configs", "", "--nj", "2", *args],
                          cwd=recipe, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [line.split("\t") for line in (root / "calls.tsv").read_text().splitlines()]


def test_train_and_inference_args_and_inference_nj_reach_the_programs(tmp_path):
    calls = _calls(tmp_path, "--train_args", "optim.lr=1e-4 train.max_steps=7", "--inference_args", "--chunk-seconds 4",
                   "--inference_nj", "3", "--peer_systems", "rnnoise")
    train = [args for prog, args in calls if prog == "mal-train"]
    assert len(train) == 2 and all("--override optim.lr=1e-4 train.max_steps=7" in a for a in train)
    enhance = [args for prog, args in calls if prog == "mal-enhance"]
    model_jobs = [a for a in enhance if "--model" in a]
    peer_jobs = [a for a in enhance if "--peer rnnoise" in a]
    assert len(model_jobs) == 2 * 3 and len(peer_jobs) == 3  # --inference_nj 3, not --nj 2
    assert all("--chunk-seconds 4" in a for a in model_jobs)
    assert not any("--chunk-seconds" in a for a in peer_jobs)  # model options are not for peers


def test_tensorboard_option_reaches_every_training_job(tmp_path):
    calls = _calls(tmp_path, "--tensorboard", "true", "--peer_systems", "", "--stop_stage", "4")
    train = [args for prog, args in calls if prog == "mal-train"]
    assert len(train) == 2 and all(" --tensorboard" in f" {a}" for a in train)


def test_without_extra_args_nothing_is_added(tmp_path):
    calls = _calls(tmp_path, "--peer_systems", "")
    assert not any("--override" in args or "--tensorboard" in args for _, args in calls)
    assert len([1 for prog, _ in calls if prog == "mal-enhance"]) == 2 * 2  # --nj 2


def test_run_sh_help_shows_the_recipes_effective_defaults():
    recipe = REPO / "egs" / "mini_offline"
    test_sets = re.search(r'--test_sets "([^"]*)"', (recipe / "run.sh").read_text()).group(1)
    assert test_sets != "test"  # the recipe sets its own, unlike mal.sh's default
    out = subprocess.run(["./run.sh", "--help"], cwd=recipe, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("  --")}
    assert f'(default: "{test_sets}"; mal.sh: "test")' in lines["--test_sets"]
    assert '(default: "1")' in lines["--stage"]
    for option in ("--train_args", "--inference_args", "--inference_nj"):
        assert option in lines


def test_help_after_other_options_shows_their_values(tmp_path):
    recipe = _recipe(tmp_path)
    out = subprocess.run(["./mal.sh", "--nj", "5", "--help"], cwd=recipe, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert any(line.startswith("  --nj ") and '(default: "5"; mal.sh: "2")' in line for line in out.stdout.splitlines())


def test_a_train_set_in_a_subdirectory_of_data_is_validated_and_trained_on(tmp_path):
    fakes = dict(FAKES, **{"mal-compute-lengths": RECORD, "mal-validate-data-dir": RECORD})
    recipe = fake_recipe(tmp_path, fakes, ("warmup", "mal"))
    (recipe / "data" / "train").rename(tmp_path / "train")
    (recipe / "data" / "full").mkdir()
    (tmp_path / "train").rename(recipe / "data" / "full" / "train")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env["FAKE_LOG"] = str(tmp_path / "calls.tsv")
    proc = subprocess.run(["./mal.sh", "--stage", "2", "--stop_stage", "3", "--train_set", "full/train", "--baseline_configs", ""],
                          cwd=recipe, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    calls = [line.split("\t") for line in (tmp_path / "calls.tsv").read_text().splitlines()]
    validated = [args.split()[0] for prog, args in calls if prog == "mal-validate-data-dir"]
    assert validated == ["data/full/train", "data/valid", "data/test"]
    assert any("--train-dir data/full/train" in args for prog, args in calls if prog == "mal-train")
