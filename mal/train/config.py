"""The training configuration: YAML + defaults + ``--override a.b=c``, validated with clear errors.

```yaml
sample_rate: 16000
model: {name: tfmask, conf: {...}}
criterions: [{name: l1, weight: 1.0}, {name: mrstft, weight: 1.0, conf: {...}}]
optim: {name: adam, lr: 1.0e-3, weight_decay: 0.0}
scheduler: {name: constant|cosine|plateau, warmup_steps: 0}
batch: {batch_size: 8, segment_seconds: 2.0, num_workers: 0}
train: {max_epochs: 10, max_steps: null, grad_clip: 5.0, amp: true, seed: 0, ...}
```

Every section and key is checked against ``DEFAULTS``; a typo fails naming the key and the
closest valid one. ``model.conf`` and ``criterions[i].conf`` are free-form: the model and loss
constructors check them.
"""
from __future__ import annotations

import copy
import difflib
import inspect
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

import yaml

from mal.yaml_strict import load_yaml, yaml_error_line
from mal.losses import CRITERION_KEYS, LOSSES, loss_class
from mal.models import MODELS, model_class
from mal.models.pretrained import model_spec
from mal.registry import Registry
from mal.train.optim import AMP_DTYPES, OPTIMIZERS, SCHEDULERS
from mal.train.overrides import ConfigError, apply_override, parse_override  # noqa: F401 (re-exported)

PathLike = Union[str, os.PathLike]


DEFAULTS: Dict[str, Any] = {
    "sample_rate": 16000,
    "model": {"name": None, "conf": {}},
    "criterions": None,
    "optim": {"name": "adam", "lr": 1.0e-3, "weight_decay": 0.0, "betas": [0.9, 0.999], "eps": 1.0e-8},
    "scheduler": {
        "name": "constant",  # constant | cosine | plateau
        "warmup_steps": 0,
        "min_lr": 0.0,  # cosine floor / plateau floor
        "factor": 0.5,  # plateau: multiply the LR by this ...
        "patience": 2,  # ... after this many epochs without improvement of train.best_metric
        "threshold": 1.0e-4,  # plateau: relative improvement that counts
    },
    "batch": {
        "batch_size": 8,  # global: divided over data-parallel processes
        "segment_seconds": 2.0,
        "num_workers": 0,
        "valid_batch_size": 8,
        "valid_max_seconds": 120.0,  # at most this much padded audio in one validation batch
        "normalize_rms": None,  # scale each example (noisy and target alike) so the noisy RMS is this (mal-enhance --norm-rms)
    },
    "dynamic_mixing": {
        "noise_scp": None,  # a wav.scp of noise recordings: set it to mix every training example afresh
        "noise_db_range": [-5.0, 20.0],  # SNR range (dB) of the mixtures
        "rir_scp": None,  # a wav.scp of room impulse responses
        "rir_apply_prob": 0.0,  # share of the examples convolved with a random RIR
        "speech_level_range": [-35.0, -15.0],  # RMS of the clean speech (dBFS)
        # augmentations (mal/train/dynamic_mixing.py), all off by default:
        "speech_eq_prob": 0.0,  # share of examples whose speech (input and target) gets a random biquad
        "noise_eq_prob": 0.0,  # share of examples whose noise gets a random biquad
        "bandlimit_prob": 0.0,  # share of examples whose speech (input and target) is low-passed ...
        "bandlimit_cutoffs": [7000.0, 4000.0],  # ... at one of these frequencies (Hz)
        "generated_noise_prob": 0.0,  # share of examples with generated stationary noise instead of a recording
        "second_noise_prob": 0.0,  # share of examples with a second noise of another kind ...
        "second_noise_db_range": [-10.0, 0.0],  # ... at this level relative to the first (dB)
        "short_noise": "tile",  # a noise clip shorter than the segment: tile | concat (with clips of its kind)
        "gain_db_range": None,  # [low, high]: a random gain (dB) of noisy and target together
        "noise_cache": True,  # decode each noise clip once and keep it in memory
    },
    "train": {
        "max_epochs": 10,
        "max_steps": None,  # stop after exactly this many optimiser steps
        "steps_per_epoch": None,  # batches per epoch (None: one pass over the data)
        "grad_clip": 5.0,  # max gradient norm; null or 0 disables clipping
        "amp": True,  # CUDA only; ignored on CPU
        "amp_dtype": "bfloat16",  # bfloat16 | float16 (float16 uses a GradScaler)
        "seed": 0,
        "deterministic": False,  # torch.use_deterministic_algorithms
        "nan_tolerance": 10,  # stop after this many consecutive non-finite steps
        "keep_nbest": 3,
        "best_metric": "valid_loss",  # valid_loss | valid_<term> | valid_sisdr | valid_sisdri
        "average_nbest": False,  # model.pth = average of the kept epochs instead of the best
        "init_optimizer": False,  # --init also loads the optimiser state
        "log_interval": 50,  # steps between train.log progress lines
    },
}

#: Sections whose content is passed to a constructor and so not checked here.
FREE_FORM = {("model", "conf")}


def _suggest(key: str, valid: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(valid), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _merge(defaults: Dict[str, Any], given: Dict[str, Any], where: str, source: str) -> Dict[str, Any]:
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in defaults:
            raise ConfigError(f"{source}: unknown key '{path}'{_suggest(str(key), defaults)}; valid keys: {', '.join(defaults)}")
        sub = defaults[key]
        if isinstance(sub, dict) and tuple(path.split(".")) not in FREE_FORM:
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{path}' must be a mapping, got {value!r}")
            merged[key] = _merge(sub, value, path, source)
        else:
            merged[key] = value
    return merged


def _check_number(config: Dict[str, Any], section: str, key: str, source: str, kind=(int, float), minimum=None, allow_none=False, strict=False) -> None:
    value = config[section][key]
    path = f"{section}.{key}"
    if value is None and allow_none:
        return
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            number = float(value)
            value = int(number) if kind == int and number.is_integer() else number
            config[section][key] = value
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{source}: '{path}' must be a number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ConfigError(f"{source}: '{path}' must be {'>' if strict else '>='} {minimum}, got {value!r}")


def _check_weight(spec: Dict[str, Any], where: str, source: str) -> None:
    """A criterion's ``weight``: a number >= 0 (a negative one would maximise the loss)."""
    value = spec.get("weight", 1.0)
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            value = spec["weight"] = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"{source}: '{where}' must be a number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{source}: '{where}' must be >= 0, got {value!r}")


#: Annotations of a boolean parameter (as strings: modules use ``from __future__ import annotations``).
_BOOL = {"bool"}
_OPTIONAL_BOOL = {"Optional[bool]", "bool|None", "None|bool", "Union[bool,None]", "Union[None,bool]"}


def bool_parameters(cls: type) -> Dict[str, bool]:
    """The constructor's boolean parameters (annotated ``bool``, or unannotated with a bool
    default), each mapped to whether None is accepted too."""
    found: Dict[str, bool] = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        ann = param.annotation
        text = ann if isinstance(ann, str) else "bool" if ann is bool else str(ann)
        text = text.replace("typing.", "").replace(" ", "")
        if text in _BOOL or (ann is param.empty and isinstance(param.default, bool)):
            found[name] = False
        elif text in _OPTIONAL_BOOL:
            found[name] = True
    return found


def _check_bool_conf(cls: Optional[type], conf: Dict[str, Any], where: str, source: str) -> None:
    """Refuse a non-boolean (e.g. the string "false", which Python reads as true) for a boolean
    constructor parameter."""
    if cls is None:
        return
    for name, none_ok in bool_parameters(cls).items():
        value = conf.get(name)
        if name in conf and not isinstance(value, bool) and not (none_ok and value is None):
            raise ConfigError(f"{source}: '{where}.{name}' must be true or false{' or null' if none_ok else ''} "
                              f"(unquoted), got {value!r}")


def _check_name(registry: Registry, name: Any, where: str, source: str) -> None:
    """A registered name, or a ConfigError naming the file, the key and the closest name."""
    if str(name) not in registry.entries:
        raise ConfigError(f"{source}: '{where}': unknown {registry.kind} {name!r}{_suggest(str(name), registry.names())}; "
                          f"choose one of: {', '.join(registry.names())}")


def validate_config(config: Dict[str, Any], source: str = "config") -> None:
    """Raise ConfigError naming the key for anything the trainer cannot use."""
    if not isinstance(config["sample_rate"], int) or config["sample_rate"] <= 0:
        raise ConfigError(f"{source}: 'sample_rate' must be a positive integer, got {config['sample_rate']!r}")
    if not config["model"].get("name"):
        raise ConfigError(f"{source}: 'model.name' is required (e.g. tfmask, demucs, tiny)")
    if not isinstance(config["model"].get("conf") or {}, dict):
        raise ConfigError(f"{source}: 'model.conf' must be a mapping")
    _check_name(MODELS, config["model"]["name"], "model.name", source)
    crits = config["criterions"]
    if not isinstance(crits, list) or not crits:
        raise ConfigError(f"{source}: 'criterions' must be a non-empty list of {{name, weight, conf}}")
    for i, spec in enumerate(crits):
        if not isinstance(spec, dict) or "name" not in spec:
            raise ConfigError(f"{source}: 'criterions[{i}]' must be a mapping with a 'name', got {spec!r}")
        unknown = set(spec) - set(CRITERION_KEYS)
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"{source}: unknown key 'criterions[{i}].{key}'{_suggest(key, CRITERION_KEYS)}")
        if not isinstance(spec.get("conf") or {}, dict):
            raise ConfigError(f"{source}: 'criterions[{i}].conf' must be a mapping")
        _check_name(LOSSES, spec["name"], f"criterions[{i}].name", source)
        _check_weight(spec, f"criterions[{i}].weight", source)
        _check_bool_conf(loss_class(spec["name"]), spec.get("conf") or {}, f"criterions[{i}].conf", source)
    _check_bool_conf(model_class(config["model"]["name"]), config["model"].get("conf") or {}, "model.conf", source)
    if str(config["optim"]["name"]).lower() not in OPTIMIZERS:
        raise ConfigError(f"{source}: 'optim.name' must be one of {', '.join(OPTIMIZERS)}, got {config['optim']['name']!r}")
    _check_number(config, "optim", "lr", source, minimum=0, strict=True)
    _check_number(config, "optim", "weight_decay", source, minimum=0)
    if config["scheduler"]["name"] not in SCHEDULERS:
        raise ConfigError(f"{source}: 'scheduler.name' must be one of {', '.join(SCHEDULERS)}, got {config['scheduler']['name']!r}")
    _check_number(config, "scheduler", "warmup_steps", source, kind=int, minimum=0)
    _check_number(config, "batch", "batch_size", source, kind=int, minimum=1)
    _check_number(config, "batch", "valid_batch_size", source, kind=int, minimum=1)
    _check_number(config, "batch", "segment_seconds", source, minimum=0, strict=True)
    _check_number(config, "batch", "num_workers", source, kind=int, minimum=0)
    _check_number(config, "batch", "normalize_rms", source, minimum=0, strict=True, allow_none=True)
    _check_number(config, "train", "max_epochs", source, kind=int, minimum=1)
    _check_number(config, "train", "max_steps", source, kind=int, minimum=1, allow_none=True)
    _check_number(config, "train", "steps_per_epoch", source, kind=int, minimum=1, allow_none=True)
    _check_number(config, "train", "grad_clip", source, minimum=0, allow_none=True)
    _check_number(config, "train", "seed", source, kind=int)
    _check_number(config, "train", "nan_tolerance", source, kind=int, minimum=1)
    _check_number(config, "train", "keep_nbest", source, kind=int, minimum=1)
    _check_number(config, "train", "log_interval", source, kind=int, minimum=1)
    if config["train"]["amp_dtype"] not in AMP_DTYPES:
        raise ConfigError(f"{source}: 'train.amp_dtype' must be one of {', '.join(AMP_DTYPES)}, got {config['train']['amp_dtype']!r}")
    for key in ("amp", "deterministic", "average_nbest", "init_optimizer"):
        if not isinstance(config["train"][key], bool):
            raise ConfigError(f"{source}: 'train.{key}' must be true or false, got {config['train'][key]!r}")
    _check_dynamic_mixing(config["dynamic_mixing"], source)
    if not str(config["train"]["best_metric"]).startswith("valid_"):
        raise ConfigError(f"{source}: 'train.best_metric' must name a validation metric (valid_loss, valid_<term>, valid_sisdr, valid_sisdri), got {config['train']['best_metric']!r}")


def _check_dynamic_mixing(section: Dict[str, Any], source: str) -> None:
    for key in ("noise_db_range", "speech_level_range"):
        value = section[key]
        if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{source}: 'dynamic_mixing.{key}' must be a [low, high] pair of numbers, got {value!r}")
        if value[0] > value[1]:
            raise ConfigError(f"{source}: 'dynamic_mixing.{key}' must have low <= high, got {value!r}")
    prob = section["rir_apply_prob"]
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
        raise ConfigError(f"{source}: 'dynamic_mixing.rir_apply_prob' must be a number in [0, 1], got {prob!r}")
    if prob > 0 and not section["rir_scp"]:
        raise ConfigError(f"{source}: 'dynamic_mixing.rir_apply_prob' is {prob} but 'dynamic_mixing.rir_scp' is not set")
    for key in ("noise_scp", "rir_scp"):
        if section[key] is not None and not isinstance(section[key], str):
            raise ConfigError(f"{source}: 'dynamic_mixing.{key}' must be a path, got {section[key]!r}")
    _check_augmentations(section, source)


def _check_augmentations(section: Dict[str, Any], source: str) -> None:
    """The augmentation keys of ``dynamic_mixing``."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    for key in ("speech_eq_prob", "noise_eq_prob", "bandlimit_prob", "generated_noise_prob", "second_noise_prob"):
        if not number(section[key]) or not 0 <= section[key] <= 1:
            raise ConfigError(f"{source}: 'dynamic_mixing.{key}' must be a number in [0, 1], got {section[key]!r}")
    for key in ("second_noise_db_range", "gain_db_range"):
        value = section[key]
        if value is None and key == "gain_db_range":
            continue
        if not isinstance(value, list) or len(value) != 2 or not all(number(v) for v in value):
            raise ConfigError(f"{source}: 'dynamic_mixing.{key}' must be a [low, high] pair of numbers, got {value!r}")
        if value[0] > value[1]:
            raise ConfigError(f"{source}: 'dynamic_mixing.{key}' must have low <= high, got {value!r}")
    cutoffs = section["bandlimit_cutoffs"]
    if not isinstance(cutoffs, list) or not cutoffs or not all(number(v) and v > 0 for v in cutoffs):
        raise ConfigError(f"{source}: 'dynamic_mixing.bandlimit_cutoffs' must be a non-empty list of frequencies (Hz), got {cutoffs!r}")
    if section["short_noise"] not in ("tile", "concat"):
        raise ConfigError(f"{source}: 'dynamic_mixing.short_noise' must be tile or concat, got {section['short_noise']!r}")
    if not isinstance(section["noise_cache"], bool):
        raise ConfigError(f"{source}: 'dynamic_mixing.noise_cache' must be true or false, got {section['noise_cache']!r}")


def _problem(given: Dict[str, Any], overrides: List[str]) -> Optional[str]:
    """The error of ``given`` with ``overrides`` applied ("{source}" standing for its origin), or None."""
    config = copy.deepcopy(given)
    try:
        for text in overrides:
            apply_override(config, text)
        validate_config(_merge(DEFAULTS, config, "", "{source}"), "{source}")
    except ConfigError as e:
        return str(e)
    return None


def build_config(given: Optional[Dict[str, Any]], overrides: Iterable[str] = (), source: str = "config") -> Dict[str, Any]:
    """Defaults <- ``given`` <- overrides, validated. An error that an override brought in names
    that override, not ``source``."""
    given = copy.deepcopy(given or {})
    if not isinstance(given, dict):
        raise ConfigError(f"{source}: expected a YAML mapping at the top level")
    overrides = list(overrides)
    error = _problem(given, overrides)
    if error is not None:
        blamed = next((overrides[n - 1] for n in range(len(overrides), 0, -1) if _problem(given, overrides[: n - 1]) != error), None)
        raise ConfigError(error.replace("{source}", f"--override {blamed!r}" if blamed else source))
    for text in overrides:
        apply_override(given, text)
    config = _merge(DEFAULTS, given, "", source)
    validate_config(config, source)
    return config


def load_config(path: PathLike, overrides: Iterable[str] = (), model_from: Optional[PathLike] = None) -> Dict[str, Any]:
    """Read a training YAML, apply ``--override key.sub=value`` strings, fill defaults, validate.

    A fine-tuning YAML may leave out ``model``: with ``model_from`` (the ``--init`` checkpoint)
    the model name and conf are taken from that checkpoint, so they are written only once.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            given = load_yaml(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:  # a duplicate key too (mal.yaml_strict)
        raise ConfigError(f"{path}: not valid YAML: {yaml_error_line(e)}") from None
    if given is not None and not isinstance(given, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level, got {type(given).__name__}")
    if model_from is not None and "model" not in (given or {}):
        given = dict(given or {}, model=model_spec(model_from))
    return build_config(given, overrides, source=str(path))


def dump_config(config: Dict[str, Any]) -> str:
    """YAML text of a config (key order kept), loadable with ``yaml.safe_load``."""
    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)


def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively, so the YAML stays safe_load-able."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_differences(old: Dict[str, Any], new: Dict[str, Any], prefix: str = "") -> List[str]:
    """Dotted keys whose values differ between two configs (for a resume warning)."""
    diffs: List[str] = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, path + ".")
        elif _plain(a) != _plain(b):
            diffs.append(path)
    return diffs


def _plain_default(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain_default(v) for v in value)
    return False


def constructor_conf(cls: type, given: Dict[str, Any]) -> Dict[str, Any]:
    """``given`` completed with the constructor's plain defaults (what the run really used)."""
    conf: Dict[str, Any] = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in given:
            conf[name] = given[name]
        elif param.default is not param.empty and _plain_default(param.default):
            conf[name] = list(param.default) if isinstance(param.default, tuple) else param.default
    conf.update({k: v for k, v in given.items() if k not in conf})
    return conf


def expand_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """The config with model and criterion confs completed by their defaults (so config.yaml
    records e.g. the MAL variant and layers even when the YAML left them out)."""
    config = copy.deepcopy(config)
    try:
        config["model"]["conf"] = constructor_conf(model_class(config["model"]["name"]), config["model"].get("conf") or {})
        for spec in config["criterions"]:
            spec["conf"] = constructor_conf(loss_class(spec["name"]), spec.get("conf") or {})
            spec.setdefault("weight", 1.0)
    except KeyError as e:
        raise ConfigError(str(e.args[0]) if e.args else str(e)) from None
    return config
