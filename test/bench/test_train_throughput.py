"""bench/train_throughput.py (also `bench/train_speed.py pipeline`): a table row per variant."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
    for r in rows:  # examples / s = audio seconds per wall second / segment seconds
        assert float(r.split("|")[6]) == pytest.approx(float(r.split("|")[5]) / 2.0, abs=0.06)
    assert float(rows[0].split("|")[7]) == 1.0


def test_data_only_compares_the_clip_cache_with_decoding_per_example_and_the_augmentations(tmp_path):
    recipe = make_recipe(tmp_path)
    cmd = [sys.executable, str(BENCH / "train_speed.py"), "pipeline", "--config", str(recipe / "warmup.yaml"),
           "--train-dir", str(recipe / "data" / "train"), "--recipe-dir", str(recipe), "--rounds", "1",
           "--steps-per-round", "2", "--data-only", "--variants", "7,1,8"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, cwd=BENCH)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines()[0].startswith("data pipeline only")
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split("|")[1].strip() for r in rows] == [
        "dynamic mixing, noise decoded per example (before the clip cache)", "dynamic mixing, 2 threads, 0 workers",
        "dynamic mixing, every augmentation on"]
    assert all(float(r.split("|")[6]) > 0 for r in rows)
