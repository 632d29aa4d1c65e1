"""mal.sh's GPU jobs with fake torchrun / mal-train / mal-enhance on PATH (no GPU needed).

Each fake records its command line and CUDA_VISIBLE_DEVICES, so the test sees which device every
training and enhancement job would use.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

from helpers.fake_recipe import fake_recipe


RECORD = 'printf "%s\\t%s\\t%s\\t%s\\n" "$(basename "$0")" "${CUDA_VISIBLE_DEVICES-unset}" "$(date +%s.%N)" "$*" >> "${FAKE_LOG}"\n'
FAKES = {
    "torchrun": RECORD + 'while [ "$1" != -m ]; do shift; done; shift 2; exec mal-train "$@"\n',
    "mal-train": RECORD + 'while [ "$1" != --out-dir ]; do shift; done; mkdir -p "$2"; sleep 0.5\n'
                 '[ "$(basename "$2")" != "${FAKE_FAIL-}" ] || exit 3; touch "$2/model.pth"\n',
    "nvidia-smi": "exit 9\n",  # no driver: no GPU listed
    "mal-enhance": RECORD + 'while [ "$1" != --out-dir ]; do shift; done; mkdir -p "$2"; sleep 0.5; : > "$2/wav.scp"\n',
}


def _recipe(root: Path) -> Path:
    return fake_recipe(root, FAKES, ("warmup", "mal", "continued"))


def _run(root: Path, devices: Optional[str], *args: str, fail: str = "") -> List[Dict[str, str]]:
    recipe = _recipe(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV") and k != "CUDA_VISIBLE_DEVICES"}
    env.update({"FAKE_LOG": str(root / "calls.tsv"), "FAKE_FAIL": fail}, **({} if devices is None else {"CUDA_VISIBLE_DEVICES": devices}))
    proc = subprocess.run(["./mal.sh", "--stage", "3", "--stop_stage", "5", "--peer_systems", "", "--nj", "2",
                           "--baseline_configs", "continued=conf/continued.yaml", *args],
                          cwd=recipe, env=env, capture_output=True, text=True, timeout=120)
    if fail:
        assert proc.returncode != 0 and f"{fail}: training failed" in proc.stderr, proc.stderr[-3000:]
        assert "stage 4: a fine-tuning job failed" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [line.split("\t") for line in (root / "calls.tsv").read_text().splitlines()]
    return [{"prog": p, "devices": d, "time": t, "args": a} for p, d, t, a in rows]


def _system(call: Dict[str, str]) -> str:
    words = call["args"].split()
    key = "--out-dir" if call["prog"] != "mal-enhance" else "--model"
    return Path(words[words.index(key) + 1]).parent.name if key == "--model" else Path(words[words.index(key) + 1]).name


def test_two_gpu_training_and_one_gpu_enhancement(tmp_path):
    calls = _run(tmp_path, "0,1", "--ngpu", "2", "--inference_ngpu", "1")
    launches = [c for c in calls if c["prog"] == "torchrun"]
    assert [_system(c) for c in calls if c["prog"] == "mal-train"] == ["warmup", "mal", "continued"]
    assert len(launches) == 3 and all("--nproc_per_node 2 -m mal.bin.train" in c["args"] for c in launches)
    assert all(c["devices"] == "0,1" and "--device cuda " in c["args"] + " " for c in launches)
    for name in ("warmup", "mal"):  # the job asks the scheduler for the threads it gives mal-train
        args = next(c["args"].split() for c in calls if c["prog"] == "mal-train" and _system(c) == name)
        threads = args[args.index("--num-threads") + 1]
        assert re.search(rf"^# Accounting: time=\d+ threads={threads}$", (tmp_path / f"recipe/exp/warmup/log/train_{name}.log").read_text(), re.M)
    enhance = [c for c in calls if c["prog"] == "mal-enhance"]
    assert len(enhance) == 6  # 3 systems x 2 jobs
    assert all("--device cuda" in c["args"] and c["devices"] == "0" for c in enhance)


def test_each_finetune_and_enhancement_job_gets_its_own_gpu(tmp_path):
    calls = _run(tmp_path, "4,6", "--ngpu", "1", "--finetune_jobs", "2", "--inference_ngpu", "2")
    train = [c for c in calls if c["prog"] == "mal-train"]
    assert not [c for c in calls if c["prog"] == "torchrun"]
    assert train[0]["devices"] == "4"  # the warm-up: the first GPU
    finetune = {_system(c): c["devices"] for c in train[1:]}
    assert sorted(finetune.values()) == ["4", "6"], finetune  # trained at the same time, one GPU each
    enhance = [c for c in calls if c["prog"] == "mal-enhance"]
    for system in ("warmup", "mal", "continued"):
        assert sorted(c["devices"] for c in enhance if _system(c) == system) == ["4", "6"]


def test_no_gpu_found_assigns_nothing(tmp_path):
    """As on a cluster's login node: the scheduler (slurm.pl --gpu) gives each job its GPUs."""
    calls = _run(tmp_path, None, "--ngpu", "1", "--finetune_jobs", "2", "--stop_stage", "4")
    assert len(calls) == 3 and all(c["devices"] == "unset" for c in calls)


def test_cpu_training_leaves_the_devices_alone(tmp_path):
    calls = _run(tmp_path, "0,1", "--ngpu", "0", "--stop_stage", "4")
    train = [c for c in calls if c["prog"] == "mal-train"]
    assert [c["devices"] for c in train] == ["0,1"] * 3  # CPU jobs: the environment as it was
    assert all("--device cpu" in c["args"] for c in train)


def test_a_failing_gpu_finetune_job_is_named_and_the_other_finishes(tmp_path):
    calls = _run(tmp_path, "0,1", "--ngpu", "1", "--finetune_jobs", "2", fail="continued")
    assert (tmp_path / "recipe/exp/warmup/mal/model.pth").is_file()
    assert not any(c["prog"] == "mal-enhance" for c in calls)
