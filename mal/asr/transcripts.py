"""Reference transcripts: a Kaldi ``text`` file (``<key> <words...>``; a key alone is an empty
transcript)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Union

from mal.io.scp import ScpError

PathLike = Union[str, os.PathLike]


class TranscriptsMissing(FileNotFoundError):
    """A test set without a ``text`` file; the message names the set."""


def missing_text_message(path: PathLike) -> str:
    path = Path(path)
    return (
        f"{path}: not found: test set '{path.parent.name}' has no transcripts, so its WER/CER cannot be "
        f"scored (write a Kaldi 'text' file, '<key> <words>', into {path.parent} or leave the set out)"
    )


def read_transcripts(path: PathLike) -> Dict[str, str]:
    """Key -> transcript; TranscriptsMissing names the set, ScpError names the file and line."""
    path = Path(path)
    if not path.is_file():
        raise TranscriptsMissing(missing_text_message(path))
    table: Dict[str, str] = {}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise ScpError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
            parts = line.split(maxsplit=1)
            if not parts:
                raise ScpError(f"{path}:{lineno}: empty line")
            key = parts[0]
            if key in table:
                raise ScpError(f"{path}:{lineno}: duplicate key '{key}'")
            table[key] = parts[1].strip() if len(parts) > 1 else ""
    return table
