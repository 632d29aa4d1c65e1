"""``--override a.b=c``: parse and apply one override to a config mapping (no torch import, so
mal.sh's stage-4 check stays quick)."""
from __future__ import annotations

from typing import Any, Dict

import yaml

from mal.yaml_strict import load_yaml, yaml_error_line


class ConfigError(ValueError):
    """An invalid training configuration; the message names the file and the key."""


def parse_override(text: str) -> tuple:
    """``a.b=c`` -> (["a", "b"], value); the value is parsed as YAML (``1e-3``, ``null``, ``[1, 2]``)."""
    if "=" not in text:
        raise ConfigError(f"--override {text!r}: expected key.sub=value")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--override {text!r}: empty key component")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"--override {text!r}: value is not valid YAML: {yaml_error_line(e)}") from None
    return parts, value


def apply_override(config: Dict[str, Any], text: str) -> None:
    """Set one ``a.b=c`` in place; list items are addressed by index (``criterions.0.weight=2``)."""
    parts, value = parse_override(text)
    node: Any = config
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            node = node[_list_index(part, node, where, text)]
        elif isinstance(node, dict):
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        else:
            raise ConfigError(f"--override {text!r}: '{where}' is not a section")
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(last, node, ".".join(parts), text)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--override {text!r}: '{'.'.join(parts[:-1])}' is not a section")


def _list_index(part: str, node: list, where: str, text: str) -> int:
    try:
        index = int(part)
        node[index]
    except (ValueError, IndexError):
        raise ConfigError(f"--override {text!r}: '{where}' is not an index of a list of {len(node)}") from None
    return index
