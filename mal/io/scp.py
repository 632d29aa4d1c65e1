"""Read and write Kaldi ``key value`` files (wav.scp, spk1.scp, utt2spk, text, ...)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Tuple, Union

from mal.io.atomic import atomic_open

PathLike = Union[str, os.PathLike]


class ScpError(ValueError):
    """A malformed Kaldi table file; the message names the file and line."""


def _key_hint(raw: bytes) -> str:
    """The first token of an undecodable line, readable enough to find the line."""
    tokens = raw.split(maxsplit=1)
    return tokens[0].decode("utf-8", errors="replace") if tokens else ""


def parse_scp_line(raw: bytes, path: PathLike = "<scp>", lineno: int = 0) -> Tuple[str, str]:
    """Split one raw line into ``(key, value)``; raise ScpError naming file, line and key."""
    where = f"{path}:{lineno}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScpError(f"{where}: key '{_key_hint(raw)}': not valid UTF-8 ({e.reason} at byte {e.start})") from None
    line = line.rstrip("\r")
    if not line.strip():
        raise ScpError(f"{where}: empty line")
    parts = line.split(maxsplit=1)
    if len(parts) != 2 or not parts[1].strip():
        raise ScpError(f"{where}: key '{parts[0]}': expected '<key> <value>', got {line!r}")
    return parts[0], parts[1].strip()


def _read_lines(path: PathLike) -> List[bytes]:
    try:
        with open(path, "rb") as f:
            raw_lines = f.read().split(b"\n")
    except FileNotFoundError:
        raise ScpError(f"{path}: file not found") from None
    except OSError as e:
        raise ScpError(f"{path}: cannot read: {e.strerror or e}") from None
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    return raw_lines


def iter_scp_lines(path: PathLike) -> Iterable[Tuple[int, str, str]]:
    """Yield ``(line_number, key, value)``; raise ScpError naming file and line on bad input."""
    for lineno, raw in enumerate(_read_lines(path), start=1):
        key, value = parse_scp_line(raw, path, lineno)
        yield lineno, key, value


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


@dataclass
class ScpScan:
    """A table read without stopping at the first problem (what a validator needs)."""

    path: str
    table: Dict[str, str] = field(default_factory=dict)
    lines: Dict[str, int] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)

    def where(self, key: str) -> str:
        """``file:line`` of ``key`` (just the file when the key is not in it)."""
        return f"{self.path}:{self.lines[key]}" if key in self.lines else self.path


def scan_scp(path: PathLike, require_sorted: bool = True) -> ScpScan:
    """Read every well-formed line of a table and list each bad one (bytes, format, duplicate, order).

    Keys are compared as Python strings, which for UTF-8 is the byte order of ``LC_ALL=C sort``.
    """
    scan = ScpScan(str(path))
    try:
        raw_lines = _read_lines(path)
    except ScpError as e:
        scan.problems.append(str(e))
        return scan
    previous = None
    for lineno, raw in enumerate(raw_lines, start=1):
        try:
            key, value = parse_scp_line(raw, path, lineno)
        except ScpError as e:
            scan.problems.append(str(e))
            continue
        if key in scan.table:
            scan.problems.append(f"{path}:{lineno}: key '{key}': duplicate key (first on line {scan.lines[key]})")
            continue
        if require_sorted and previous is not None and key < previous:
            scan.problems.append(
                f"{path}:{lineno}: key '{key}': not sorted (comes after '{previous}'); run utils/fix_data_dir.sh"
            )
        scan.table[key] = value
        scan.lines[key] = lineno
        previous = key
    return scan


def format_value(value: object) -> str:
    """A table value as text: sequences are joined with single spaces."""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def write_scp(path: PathLike, table: Mapping[str, object], sort: bool = True) -> None:
    """Write ``key value`` lines atomically (sorted by key unless ``sort=False``).

    Values may be strings, numbers or sequences (joined with spaces); a key must be non-empty
    without whitespace and a value must be non-empty on one line.
    """
    keys = sorted(table) if sort else list(table)
    with atomic_open(path, "w") as f:
        for key in keys:
            if not isinstance(key, str) or not key or any(c.isspace() for c in key):
                raise ScpError(f"{path}: invalid key {key!r} (keys must be non-empty without spaces)")
            value = format_value(table[key])
            if not value.strip() or "\n" in value or "\r" in value:
                raise ScpError(f"{path}: key '{key}': invalid value {value!r} (must be non-empty, one line)")
            f.write(f"{key} {value}\n")
