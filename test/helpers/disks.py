"""Real unwritable folders for the write-fault tests: a full disk (a tiny tmpfs, filled) and a
read-only folder (a read-only tmpfs for root, who ignores permissions; ``chmod 555`` otherwise)."""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


def _mount(target: Path, options: str) -> None:
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")


@contextlib.contextmanager
def full_disk(target: Path, free_bytes: int = 2048) -> Iterator[Path]:
    """``target`` as a 64 KiB tmpfs with about ``free_bytes`` left (root only: skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("a full disk needs root (to mount a tiny tmpfs)")
    target.mkdir(parents=True, exist_ok=True)
    _mount(target, "size=64k")
    try:
        free = os.statvfs(target).f_bavail * os.statvfs(target).f_frsize
        (target / "filler").write_bytes(b"\0" * max(0, free - free_bytes))
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


@contextlib.contextmanager
def read_only_dir(target: Path) -> Iterator[Path]:
    """``target`` as a folder nothing can be written into (an empty read-only tmpfs for root)."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        _mount(target, "ro,size=64k")
        try:
            yield target
        finally:
            subprocess.run(["umount", "-l", str(target)], check=False)
    else:
        target.chmod(0o555)
        try:
            yield target
        finally:
            target.chmod(0o755)
