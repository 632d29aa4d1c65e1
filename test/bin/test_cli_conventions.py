"""Every console script shows its defaults in --help and shares one --device default."""
from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from mal.bin import DEFAULT_DEVICE

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = dict(re.findall(r'"(mal-[a-z-]+)": "(mal\.bin\.[a-z_]+):main"', (ROOT / "setup.py").read_text()))


def parser_of(module: str) -> argparse.ArgumentParser:
    return importlib.import_module(module).get_parser()


def test_setup_lists_the_console_scripts():
    assert {"mal-train", "mal-enhance", "mal-score", "mal-report"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_shows_defaults(script):
    parser = parser_of(SCRIPTS[script])
    assert issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter), script
    shown = [a for a in parser._actions if a.default not in (None, False, argparse.SUPPRESS) and a.help]
    text = "".join(parser.format_help().split())  # help wraps long values anywhere
    for action in shown:
        assert "".join(f"(default: {action.default})".split()) in text, (script, action.dest)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_one_device_default(script):
    devices = [a for a in parser_of(SCRIPTS[script])._actions if a.dest == "device"]
    assert all(a.default == DEFAULT_DEVICE for a in devices), script
