"""egs/mini_offline/run_large.sh: its options, configs and pool builder's checks (the run itself is long)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from mal.train.config import load_config

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "mini_offline"


def test_help_shows_the_presets_options():
    out = subprocess.run(["./run_large.sh", "--help"], cwd=RECIPE, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("  --")}
    assert '(default: "train_large"' in lines["--train_set"]
    assert '(default: "--large true"' in lines["--local_data_opts"]


def test_configs_load_and_fine_tuning_runs_a_fifth_of_the_warm_up():
    warmup = load_config(RECIPE / "conf/large/warmup.yaml")
    assert warmup["model"]["conf"]["mask"] == "gain"
    assert warmup["dynamic_mixing"]["noise_scp"] == "data/noise_pool_long/wav.scp"
    steps = {}
    for name in ("mal", "continued"):
        config = load_config(RECIPE / f"conf/large/{name}.yaml", ["model.name=tfmask"])  # the model comes from --init
        steps[name] = config["train"]["max_steps"]
        assert config["dynamic_mixing"] == warmup["dynamic_mixing"], name
        assert [c for c in config["criterions"] if c["name"] != "mal"] == warmup["criterions"], name  # the warm-up's loss
    assert steps["mal"] == steps["continued"] == warmup["train"]["max_steps"] // 5


def test_pool_builder_needs_the_corpus_first(tmp_path):
    out = subprocess.run([str(RECIPE / "local/large_data.sh"), "--data_dir", str(tmp_path / "data")], cwd=RECIPE,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert out.stderr.strip() == f"{RECIPE / 'local/large_data.sh'}: {tmp_path / 'data'}/train not built: run local/data.sh first"
