"""Choosing a class by name (models, criteria, recognisers): one helper for every registry.

A registry maps a name to ``"module:Class"``; the module is imported on first use, and the
class must subclass the registry's base, so a wrong entry fails when it is chosen, naming it.
A registry that takes plug-ins also accepts ``"package.module:Class"`` for a name.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Dict, Generic, List, Type, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """``kind`` names the slot in messages ("model", "criterion", ...); ``entries`` is the live table."""

    def __init__(self, kind: str, base: Type[T], entries: Dict[str, str], plugins: bool = False):
        self.kind = kind
        self.base = base
        self.entries = entries
        self.plugins = plugins

    def names(self) -> List[str]:
        return sorted(self.entries)

    def get(self, name: str) -> Type[T]:
        """The class registered as ``name`` (or named ``module:Class`` when plug-ins are allowed)."""
        spec = self.entries.get(name, name if self.plugins else "")
        if ":" not in spec:
            hint = ", or give 'package.module:Class'" if self.plugins else ""
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            guess = f" (did you mean '{close[0]}'?)" if close else ""
            raise KeyError(f"unknown {self.kind} '{name}'{guess}; choose one of: {', '.join(self.names())}{hint}")
        module_name, class_name = spec.split(":", 1)
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            if not self.plugins:
                raise
            raise KeyError(f"{self.kind} '{name}': cannot import {module_name}: {e}") from None
        cls = getattr(module, class_name, None)
        if cls is None:
            raise KeyError(f"{self.kind} '{name}': {module_name} has no class {class_name}")
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise KeyError(f"{self.kind} '{name}': {spec} is not a subclass of {self.base.__name__}")
        return cls

    def build(self, name: str, **conf: Any) -> T:
        """Instantiate ``name``; constructor arguments it does not take fail naming the entry."""
        cls = self.get(name)
        try:
            return cls(**conf)
        except TypeError as e:
            raise TypeError(f"{self.kind} '{name}': bad configuration {conf}: {e}") from None
