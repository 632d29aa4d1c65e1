"""Path checks shared by the writers: never write over an input; outputs under a file fail early."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

PathLike = Union[str, os.PathLike]


def is_same_file(a: PathLike, b: PathLike) -> bool:
    """True when both paths name one existing file (also through symbolic or hard links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class PathError(ValueError):
    """An output path that cannot be used; the message names it and why."""


def _nearest_existing(path: Path) -> Path:
    return next(p for p in (path, *path.parents) if p.exists())


def check_dir_path(path: PathLike, what: str) -> None:
    """Raise PathError when ``path``, or the nearest of its parents that exists, is not a directory."""
    path = Path(path)
    existing = _nearest_existing(path)
    if not existing.is_dir():
        where = "is a file" if existing == path else f"{existing} is a file"
        raise PathError(f"{what} {path}: {where}, not a directory")


def check_file_path(path: PathLike, what: str) -> None:
    """Raise PathError when ``path`` is an existing directory or cannot be created under its parents."""
    path = Path(path)
    if path.is_dir():
        raise PathError(f"{what} {path}: is a directory; name the file to write (e.g. {path / 'model.tar.gz'})")
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise PathError(f"{what} {path}: {existing} is a file, not a directory")
