"""YAML read strictly: a key written twice in one mapping is an error, not "the last one wins".

PyYAML's ``safe_load`` keeps the last of two equal keys, so ``train:`` written twice silently
drops the first section's keys. ``load_yaml`` is ``safe_load`` with that refused (merge keys,
``<<: *anchor``, may still be overridden by the mapping's own keys).
"""
from __future__ import annotations

from typing import IO, Any, Dict, Union

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names one key twice; the message gives the key and both lines."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises DuplicateKeyError for a repeated key at any level."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: Dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise DuplicateKeyError(f"duplicate key {key!r} on line {key_node.start_mark.line + 1} "
                                            f"(first on line {first.line + 1})")
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def load_yaml(stream: Union[str, bytes, IO]) -> Any:
    """``yaml.safe_load`` refusing duplicate keys (DuplicateKeyError, a yaml.YAMLError)."""
    return yaml.load(stream, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def yaml_error_line(error: yaml.YAMLError) -> str:
    """A YAML error's message on one line."""
    return " ".join(str(error).split())
