"""bench/model_choice.py: every candidate trains for the same step time, is scored, one is chosen."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bench.model_choice import main
from helpers.tiny_recipe import make_recipe

CANDIDATES = {
    "base": "warmup.yaml",
    "rtf_max": 0.5,
    "latency_ms_max": 40,
    "candidates": {
        "tiny_offline": [],  # no causal form: scored, never chosen
        "tfmask_causal": ["model={name: tfmask, conf: {channels: [2, 4], rnn_hidden: 8, causal: true}}"],
    },
}


def run(recipe: Path, capsys, *extra: str) -> str:
    code = main(["--recipe-dir", str(recipe), "--candidates", "candidates.yaml", "--out", "exp/choice", "--minutes", "0.02",
                 "--valid-dir", "data/train", "--eval-utts", "4", "--dnsmos-utts", "0", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


@pytest.fixture
def recipe(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # main() changes into --recipe-dir
    root = make_recipe(tmp_path / "recipe")
    (root / "candidates.yaml").write_text(yaml.safe_dump(CANDIDATES))
    return root


def test_candidates_are_trained_scored_and_the_causal_one_chosen(recipe, capsys):
    text = run(recipe, capsys)
    rows = {line.split("|")[1].strip(): line.split("|") for line in text.splitlines() if line.startswith("| ") and "---" not in line}
    assert "tfmask_causal (chosen)" in rows and "tiny_offline" in rows and "noisy" in rows
    causal = rows["tfmask_causal (chosen)"]
    assert int(causal[3]) >= 1 and 0 < float(causal[5]) <= 0.5 and causal[6].strip() == "32"
    assert rows["tiny_offline"][6].strip() == "-"
    result = json.loads((recipe / "exp/choice/tfmask_causal/result.json").read_text())
    assert set(result["valid"]) == {"pesq_wb", "estoi", "sisdr"} and result["steps"] == int(causal[3])
    assert (recipe / "exp/choice/model_choice.md").read_text().endswith("tfmask_causal\n")


def test_a_rerun_reuses_finished_candidates(recipe, capsys):
    run(recipe, capsys)
    model = recipe / "exp/choice/tfmask_causal/train/model.pth"
    stamp = model.stat().st_mtime_ns
    text = run(recipe, capsys)
    assert "s per step" not in text and model.stat().st_mtime_ns == stamp


def test_a_bad_override_names_the_file_and_candidate(recipe, capsys):
    bad = dict(CANDIDATES, candidates={"broken": ["model.conf.nope"]})
    (recipe / "candidates.yaml").write_text(yaml.safe_dump(bad))
    assert main(["--recipe-dir", str(recipe), "--candidates", "candidates.yaml", "--out", "exp/choice"]) == 1
    err = capsys.readouterr().err
    assert "candidates.yaml: candidate 'broken'" in err and len(err.strip().splitlines()) == 1
