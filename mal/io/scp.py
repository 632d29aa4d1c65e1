"""Read and write Kaldi ``key value`` files (wav.scp, spk1.scp, utt2spk, text, ...)."""
from __future__ import annotations

import os
from typing import Dict, Iterable, Mapping, Tuple, Union

from mal.io.atomic import atomic_open

PathLike = Union[str, os.PathLike]


class ScpError(ValueError):
    """A malformed Kaldi table file; the message names the file and line."""


def iter_scp_lines(path: PathLike) -> Iterable[Tuple[int, str, str]]:
    """Yield ``(line_number, key, value)``; raise ScpError naming file and line on bad input."""
    try:
        with open(path, "rb") as f:
            raw_lines = f.read().split(b"\n")
    except FileNotFoundError:
        raise ScpError(f"{path}: file not found") from None
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for lineno, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as e:
            raise ScpError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
        if not line.strip():
            raise ScpError(f"{path}:{lineno}: empty line")
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2:
            raise ScpError(f"{path}:{lineno}: expected '<key> <value>', got {line!r}")
        yield lineno, parts[0], parts[1]


def read_scp(path: PathLike, require_sorted: bool = False) -> Dict[str, str]:
    """Read a Kaldi table into an insertion-ordered dict; duplicate keys are an error."""
    table: Dict[str, str] = {}
    previous = None
    for lineno, key, value in iter_scp_lines(path):
        if key in table:
            raise ScpError(f"{path}:{lineno}: duplicate key '{key}'")
        if require_sorted and previous is not None and key < previous:
            raise ScpError(f"{path}:{lineno}: key '{key}' is not sorted (after '{previous}'); run utils/fix_data_dir.sh")
        table[key] = value
        previous = key
    return table


def write_scp(path: PathLike, table: Mapping[str, object], sort: bool = True) -> None:
    """Write ``key value`` lines atomically (sorted by key unless ``sort=False``)."""
    keys = sorted(table) if sort else list(table)
    with atomic_open(path, "w") as f:
        for key in keys:
            if not key or any(c.isspace() for c in key):
                raise ScpError(f"{path}: invalid key {key!r} (keys must be non-empty without spaces)")
            f.write(f"{key} {table[key]}\n")
