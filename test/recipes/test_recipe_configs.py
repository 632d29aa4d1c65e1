"""Every training YAML of every recipe passes the config validator (a dry run: nothing is trained).

A fine-tuning config without ``model:`` takes the warm-up's model, as ``mal-train --init`` does.
The model is built (weights only initialised), each criterion's options are bound to its
constructor (no loss network is loaded). Sweep files of the ablation and model-choice candidate
files are not training configs: each candidate of the latter is built from its base here too.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from mal.losses import loss_class
from mal.models import build_model
from mal.train.config import expand_config, load_config

REPO = Path(__file__).resolve().parents[2]
YAMLS = sorted(p for p in REPO.glob("egs/*/conf/**/*.yaml") if not p.name.startswith("sweep"))
CANDIDATE_FILES = [p for p in YAMLS if "candidates" in (yaml.safe_load(p.read_text()) or {})]
CONFIGS = [p for p in YAMLS if p not in CANDIDATE_FILES]


def test_every_recipe_has_configs():
    recipes = {p.relative_to(REPO / "egs").parts[0] for p in CONFIGS}
    assert {"TEMPLATE", "mini_offline", "voicebank_demand", "dns_challenge"} <= recipes


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(REPO / "egs")) for p in CONFIGS])
def test_config_builds(path: Path):
    given = yaml.safe_load(path.read_text()) or {}
    overrides = []
    if "model" not in given:  # a fine-tuning config: the model comes from the warm-up (--init)
        warmup = yaml.safe_load((path.parent / "warmup.yaml").read_text())
        overrides = [f"model={yaml.safe_dump(warmup['model'], default_flow_style=True).strip()}"]
    check_builds(expand_config(load_config(path, overrides)))


def check_builds(config: dict) -> None:
    build_model(config["model"]["name"], **config["model"]["conf"])
    for spec in config["criterions"]:
        inspect.signature(loss_class(spec["name"])).bind(**spec.get("conf", {}))


@pytest.mark.parametrize("path", CANDIDATE_FILES, ids=[str(p.relative_to(REPO / "egs")) for p in CANDIDATE_FILES])
def test_model_choice_candidates_build(path: Path):
    from bench.model_choice import read_candidates

    configs = read_candidates(path)["configs"]
    assert len(configs) >= 2
    for config in configs.values():
        check_builds(expand_config(config))
