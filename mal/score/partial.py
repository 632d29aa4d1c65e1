"""``DIR/.scores.partial``: one line per utterance as soon as it is scored, to watch a long job.

Each line is ``key metric=value ...`` (failed metrics as ``metric=FAILED``). The file is hidden
and has a dot in its name, so it is never read as a metric or output file; mal-score removes it
once the metric files are written, and when the run fails (which leaves no output behind).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional, TextIO, Union

from mal.score.summary import format_value

PARTIAL = ".scores.partial"
PathLike = Union[str, os.PathLike]


class PartialScores:
    """Appends each utterance's scores to ``out_dir/scores.partial`` and flushes at once."""

    def __init__(self, out_dir: PathLike):
        self.path = Path(out_dir) / PARTIAL
        self.file: Optional[TextIO] = None  # opened at the first score
        self.made_dir = False

    def add(self, key: str, scores: Mapping[str, float], failures: Mapping[str, str]) -> None:
        fields = [f"{m}={format_value(v)}" for m, v in scores.items()] + [f"{m}=FAILED" for m in failures]
        if self.file is None:
            self.made_dir = not self.path.parent.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "w", encoding="utf-8")
        self.file.write(" ".join([key] + fields) + "\n")
        self.file.flush()

    def close(self, remove: bool) -> None:
        """Close; ``remove`` the file (and the folder, when it made it and it is empty)."""
        if self.file is not None:
            self.file.close()
            self.file = None
        if remove:
            self.path.unlink(missing_ok=True)
            if self.made_dir and self.path.parent.is_dir() and not any(self.path.parent.iterdir()):
                self.path.parent.rmdir()
