"""Training config: defaults, --override, validation with clear errors, --print-config."""
from __future__ import annotations

import pytest
import yaml

from helpers.configs import tiny_config, write_config
from mal.bin.train import main
from mal.train.config import ConfigError, DEFAULTS, build_config, dump_config, load_config


def test_defaults_filled_and_overrides_typed(tmp_path):
    path = write_config(tmp_path / "c.yaml")
    config = load_config(path, ["optim.lr=1e-4", "train.max_steps=7", "criterions.0.weight=2", "model.conf.channels=4",
                                "train.amp=false", "scheduler.name=cosine"])
    assert config["optim"]["lr"] == pytest.approx(1e-4) and isinstance(config["optim"]["lr"], float)  # YAML 1.1 says str
    assert config["train"]["max_steps"] == 7
    assert config["criterions"][0]["weight"] == 2
    assert config["model"]["conf"] == {"channels": 4, "depth": 2}
    assert config["scheduler"] == dict(DEFAULTS["scheduler"], name="cosine")
    assert config["train"]["nan_tolerance"] == DEFAULTS["train"]["nan_tolerance"]  # default kept
    assert yaml.safe_load(dump_config(config)) == config


@pytest.mark.parametrize(
    "given, overrides, message",
    [
        ({"train": {"max_epoch": 3}}, [], "unknown key 'train.max_epoch' (did you mean 'max_epochs'?)"),
        ({"optimizer": {}}, [], "unknown key 'optimizer' (did you mean 'optim'?)"),
        ({}, ["train.keep_best=2"], "unknown key 'train.keep_best' (did you mean 'keep_nbest'?)"),
        ({"optim": {"name": "sgd"}}, [], "'optim.name' must be one of adam, adamw"),
        ({"optim": {"lr": "fast"}}, [], "'optim.lr' must be a number"),
        ({"batch": {"batch_size": 0}}, [], "'batch.batch_size' must be >= 1"),
        ({"train": {"amp": "yes"}}, [], "'train.amp' must be true or false"),
        ({"scheduler": {"name": "step"}}, [], "'scheduler.name' must be one of constant, cosine, plateau"),
        ({"criterions": []}, [], "'criterions' must be a non-empty list"),
        ({"criterions": [{"name": "l1", "wieght": 1}]}, [], "unknown key 'criterions[0].wieght' (did you mean 'weight'?)"),
        ({}, ["criterions.5.weight=1"], "'criterions.5' is not an index"),
        ({}, ["train.max_steps"], "expected key.sub=value"),
        ({}, ["model.name=null"], "'model.name' is required"),
        ({"train": {"max_steps": "ten"}}, [], "'train.max_steps' must be a number"),
    ],
)
def test_bad_configs_name_the_key(given, overrides, message):
    config = tiny_config()
    for section, value in given.items():
        if isinstance(value, dict) and isinstance(config.get(section), dict):
            config[section] = dict(config[section], **value)
        else:
            config[section] = value
    with pytest.raises(ConfigError) as err:
        build_config(config, overrides, source="conf/x.yaml")
    assert message in str(err.value)


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="bad.yaml: expected a YAML mapping"):
        load_config(bad)


def test_print_config_is_effective_and_loadable(tmp_path, capsys):
    config = tiny_config(criterions=[{"name": "l1"}, {"name": "mal", "weight": 0.5, "conf": {"variant": "frozen-fe"}}])
    path = write_config(tmp_path / "c.yaml", config)
    assert main(["--config", str(path), "--print-config", "--override", "optim.lr=2e-4", "--seed", "7"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["optim"]["lr"] == pytest.approx(2e-4) and printed["train"]["seed"] == 7
    mal_conf = printed["criterions"][1]["conf"]
    # the MAL variant and its (default) layers are recorded even though the YAML omitted layers
    assert mal_conf["variant"] == "frozen-fe" and mal_conf["layers"] == [-1] and mal_conf["distance"] == "l1"
    assert printed["model"]["conf"]["kernel_size"] == 8  # model defaults recorded too
    # and the printed YAML is itself a valid config
    assert build_config(printed)["criterions"][1]["weight"] == 0.5


def test_cli_reports_config_errors(tmp_path, capsys):
    path = write_config(tmp_path / "c.yaml")
    assert main(["--config", str(path), "--override", "train.max_epoch=1", "--print-config"]) == 1
    assert "mal-train: error:" in capsys.readouterr().err
    assert main(["--config", str(path), "--override", "model.name=nope", "--print-config"]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err
