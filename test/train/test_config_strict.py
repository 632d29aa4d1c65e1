"""Configs refuse what YAML lets through silently: a quoted "false" for a boolean, a key written
twice, a negative criterion weight."""
from __future__ import annotations

import pytest
import yaml

from helpers.configs import tiny_config, write_config
from mal.bin.train import main
from mal.yaml_strict import DuplicateKeyError, load_yaml
from mal.train.config import ConfigError, bool_parameters, build_config, load_config
from mal.models import model_class

TFMASK = {"name": "tfmask", "conf": {"channels": [4, 8], "rnn_hidden": 16}}


def write_text(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("value", ['"false"', "'no'", "0", "1", "off_"])
def test_a_boolean_model_key_takes_only_true_or_false(tmp_path, value):
    path = write_text(tmp_path, f"model: {{name: tfmask, conf: {{causal: {value}}}}}\ncriterions: [{{name: l1}}]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: 'model.conf.causal' must be true or false")


def test_true_and_false_still_load_and_are_stored_as_booleans(tmp_path):
    path = write_text(tmp_path, "model: {name: tfmask, conf: {causal: false}}\ncriterions: [{name: l1}]\n")
    assert load_config(path)["model"]["conf"]["causal"] is False
    config = build_config(tiny_config(model=TFMASK), ["model.conf.causal=true"])
    assert config["model"]["conf"]["causal"] is True


def test_a_quoted_boolean_override_is_refused_naming_the_override():
    with pytest.raises(ConfigError, match=r"""--override 'model.conf.causal="false"'.*'model.conf.causal' must be true or false"""):
        build_config(tiny_config(model=TFMASK), ['model.conf.causal="false"'])


def test_boolean_criterion_keys_are_checked_and_optional_ones_take_null():
    assert bool_parameters(model_class("tfmask"))["causal"] is False  # annotated bool: None refused
    crit = lambda conf: tiny_config(criterions=[{"name": "mal", "conf": conf}])  # noqa: E731
    with pytest.raises(ConfigError, match=r"'criterions\[0\].conf.concat_passes' must be true or false or null"):
        build_config(crit({"concat_passes": "false"}))
    assert build_config(crit({"concat_passes": None}))["criterions"][0]["conf"]["concat_passes"] is None


def test_the_cli_refuses_a_quoted_false_before_training(tmp_path, capsys):
    path = write_config(tmp_path / "c.yaml", tiny_config(model={"name": "tfmask", "conf": {"causal": "false"}}))
    assert main(["--config", str(path), "--print-config"]) == 1
    err = capsys.readouterr().err
    assert "'model.conf.causal' must be true or false" in err and len(err.strip().splitlines()) == 1


def test_a_duplicate_top_level_key_is_refused_naming_the_file_and_lines(tmp_path):
    path = write_text(tmp_path, "model: {name: tiny}\ntrain: {max_steps: 3}\ncriterions: [{name: l1}]\ntrain: {seed: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: not valid YAML: duplicate key 'train' on line 4 (first on line 2)"


def test_duplicate_keys_are_refused_at_any_level_and_in_overrides(tmp_path):
    path = write_text(tmp_path, "model: {name: tiny}\ncriterions: [{name: l1, weight: 1, weight: 2}]\n")
    with pytest.raises(ConfigError, match="duplicate key 'weight' on line 2"):
        load_config(path)
    with pytest.raises(ConfigError, match="duplicate key 'channels'"):
        build_config(tiny_config(), ["model.conf={channels: 4, channels: 8}"])


def test_the_loader_is_safe_load_otherwise():
    text = "base: &b {a: 1, b: 2}\nderived: {<<: *b, b: 3}\nlist: [1, 1]\n"
    assert load_yaml(text) == yaml.safe_load(text)  # merge keys may be overridden; lists may repeat
    with pytest.raises(DuplicateKeyError):
        load_yaml("a: 1\nb: {c: 1, c: 1}\n")
    with pytest.raises(yaml.constructor.ConstructorError):  # still no Python objects
        load_yaml("!!python/object:os.system {}\n")


@pytest.mark.parametrize("weight", [-1, -0.5, "-1e-3", "heavy", True])
def test_a_negative_or_non_numeric_criterion_weight_is_refused(weight):
    with pytest.raises(ConfigError, match=r"'criterions\[1\].weight' must be"):
        build_config(tiny_config(criterions=[{"name": "l1"}, {"name": "mrstft", "weight": weight}]), source="c.yaml")


def test_zero_and_positive_weights_load():
    config = build_config(tiny_config(criterions=[{"name": "l1", "weight": 0}, {"name": "mrstft", "weight": "1e-3"}]))
    assert [c["weight"] for c in config["criterions"]] == [0, 1e-3]


def test_other_user_yaml_refuses_duplicate_keys_too():
    from mal.bin.asr_score import _recognizer_conf

    assert _recognizer_conf("{lw: 8.0}") == {"lw": 8.0}
    with pytest.raises(DuplicateKeyError, match="duplicate key 'lw'"):
        _recognizer_conf("{lw: 8.0, lw: 9.0}")
