"""bench/learning_curve.py: one training run, every epoch's model scored on valid, per noise kind."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.learning_curve import main
from helpers.tiny_recipe import make_recipe

ARGS = ["--config", "warmup.yaml", "--out", "exp/lc", "--steps", "4", "--eval-every", "2", "--eval-utts", "4",
        "--valid-dir", "data/train", "--threads", "1"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(recipe dir, printed table) of one finished run 'a'."""
    root = make_recipe(tmp_path_factory.mktemp("lc") / "recipe")
    kinds = ["hiss", "hum"]
    (root / "data/train/utt2category").write_text("".join(f"u{i} {kinds[i % 2]}\n" for i in range(6)))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # main() changes into --recipe-dir
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["--recipe-dir", str(root), "--name", "a", *ARGS]) == 0
    return root, out.getvalue()


@pytest.fixture
def recipe(finished, monkeypatch) -> Path:
    monkeypatch.chdir(finished[0])
    return finished[0]


def rows(text: str) -> list:
    return [[c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| ") and "---" not in line]


def test_each_epoch_is_scored_against_cpu_time_and_per_kind(recipe, finished):
    table = rows(finished[1])
    header, noisy, points = table[0], table[1], table[2:]
    assert header[-2:] == ["hiss", "hum"] and noisy[0] == "noisy"
    assert [int(p[1]) for p in points] == [2, 4]
    curve = json.loads((recipe / "exp/lc/a/curve.json").read_text())
    assert 0 < curve[0]["cpu_min"] < curve[1]["cpu_min"]  # cumulative training CPU minutes
    for point, row in zip(curve, points):
        # the SI-SDR improvement is the mean of the per-kind ones (two kinds, two utterances each)
        assert point["sisdri"] == pytest.approx(sum(point["sisdri_by_kind"].values()) / 2, abs=1e-9)
        assert float(row[7]) == pytest.approx(point["sisdri"], abs=0.006)
    assert (recipe / "exp/lc/a/curve.png").stat().st_size > 1000
    assert len(list((recipe / "exp/lc/a/enhanced/epoch2").rglob("*.wav"))) == 4


def test_a_rerun_reuses_the_run_and_compare_draws_finished_runs(recipe, finished, capsys):
    model = recipe / "exp/lc/a/train/model.pth"
    stamp = model.stat().st_mtime_ns
    assert main(["--recipe-dir", str(recipe), "--name", "a", *ARGS]) == 0
    assert model.stat().st_mtime_ns == stamp and capsys.readouterr().out == finished[1]
    assert main(["--recipe-dir", str(recipe), "--compare", "a", *ARGS]) == 0
    assert (recipe / "exp/lc/compare.png").is_file()
    assert main(["--recipe-dir", str(recipe), "--compare", "a,missing", *ARGS]) == 1
    assert "no finished run 'missing'" in capsys.readouterr().err


def test_a_rebuilt_valid_set_is_rescored_not_read_from_the_cache(recipe, finished, capsys):
    """Scores cached against the old valid audio are stale once data/ is rebuilt (same keys and lengths)."""
    noisy_before = json.loads((recipe / "exp/lc/noisy.json").read_text())
    epoch_before = json.loads((recipe / "exp/lc/a/scores/epoch2.json").read_text())
    originals = {}
    for line in (recipe / "data/train/wav.scp").read_text().splitlines():
        path = Path(line.split(maxsplit=1)[1])
        path = path if path.is_absolute() else recipe / path
        originals[path] = path.read_bytes()
        wav, rate = sf.read(path, dtype="float32")
        sf.write(path, wav + 0.3 * np.random.default_rng(0).standard_normal(wav.shape).astype("float32") * wav.std(), rate)
    try:
        assert main(["--recipe-dir", str(recipe), "--name", "a", *ARGS]) == 0
        noisy_after = json.loads((recipe / "exp/lc/noisy.json").read_text())
        epoch_after = json.loads((recipe / "exp/lc/a/scores/epoch2.json").read_text())
        assert noisy_after["valid"] != noisy_before["valid"] and epoch_after["valid"] == noisy_after["valid"]
        key = sorted(noisy_after["scores"])[0]
        assert noisy_after["scores"][key]["sisdr"] < noisy_before["scores"][key]["sisdr"] - 1.0
        assert epoch_after["scores"][key]["sisdr"] != epoch_before["scores"][key]["sisdr"]
        assert capsys.readouterr().out != finished[1]
    finally:
        for path, data in originals.items():
            path.write_bytes(data)
