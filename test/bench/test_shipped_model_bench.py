"""bench/shipped_model.py: re-scoring the shipped model reproduces the card's numbers, and a
number that does not match is reported and fails the run."""
from __future__ import annotations

import json
import shutil

from bench.shipped_model import main
from helpers.tiny_recipe import make_recipe

def test_recorded_numbers_are_reproduced_and_a_changed_one_fails(tmp_path, capsys):
    recipe = make_recipe(tmp_path / "recipe")
    shutil.copytree(recipe / "data" / "train", tmp_path / "data" / "tones")
    card = tmp_path / "card.scores.json"
    args = ["--data", str(tmp_path / "data"), "--out", str(tmp_path / "enhanced"), "--sets", "tones", "--dnsmos-utts", "2",
            "--card-scores", str(card)]
    assert main(args + ["--record"]) == 0
    recorded = json.loads(card.read_text())
    assert set(recorded["tones"]) == {"pesq_wb", "estoi", "sisdr", "dnsmos_ovrl"} and recorded["tones"]["dnsmos_ovrl"]["n"] == 2
    capsys.readouterr()
    assert main(args) == 0  # enhanced files reused, scores identical
    assert "largest difference 0.0000: within" in capsys.readouterr().out
    recorded["tones"]["pesq_wb"]["mean"] += 0.1
    card.write_text(json.dumps(recorded))
    assert main(args) == 1
    assert "OUTSIDE" in capsys.readouterr().out
