"""bench/train_throughput.py (also `bench/train_speed.py pipeline`): a table row per variant."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers.tiny_recipe import make_recipe

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_pipeline_table_has_a_row_per_variant_with_positive_throughput(tmp_path):
    recipe = make_recipe(tmp_path)
    cmd = [sys.executable, str(BENCH / "train_speed.py"), "pipeline", "--config", str(recipe / "warmup.yaml"),
           "--train-dir", str(recipe / "data" / "train"), "--recipe-dir", str(recipe), "--rounds", "1",
           "--steps-per-round", "1", "--variants", "0,1,3"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, cwd=BENCH)
    assert proc.returncode == 0, proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split("|")[1].strip() for r in rows] == [
        "fixed mixtures (before: pre-mixed wav.scp)", "dynamic mixing, 2 threads, 0 workers", "dynamic mixing, 1 loader worker"]
    assert all(float(r.split("|")[5]) > 0 for r in rows)
    assert float(rows[0].split("|")[6]) == 1.0
