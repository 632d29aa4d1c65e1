"""Progress of long loops: a tqdm bar on a terminal, log lines ("k/N utterances, ETA") elsewhere.

Under run.pl, Slurm or a pipe stderr is a file, where a bar is unreadable; there the loop logs
one line at its first item, then at most every ``MAL_PROGRESS_SECONDS`` (default 30) seconds,
and at its last item.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Iterable, Iterator, Optional, TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")
DEFAULT_INTERVAL_SECONDS = 30.0


def interval_seconds() -> float:
    """Seconds between progress lines: ``MAL_PROGRESS_SECONDS`` or 30."""
    try:
        return max(0.0, float(os.environ.get("MAL_PROGRESS_SECONDS", DEFAULT_INTERVAL_SECONDS)))
    except ValueError:
        return DEFAULT_INTERVAL_SECONDS


def format_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3700`` -> ``1h01m``; under a minute ``12.3s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressLog:
    """Counts finished items and logs ``desc: k/N unit (p%), elapsed E, ETA R`` now and then."""

    def __init__(self, total: Optional[int], desc: str, unit: str = "utterances", logger: Optional[logging.Logger] = None,
                 interval: Optional[float] = None, start: int = 0):
        self.total, self.desc, self.unit = total, desc, unit
        self.logger = logger or logging.getLogger("mal.progress")
        self.interval = interval_seconds() if interval is None else interval
        self.started = time.monotonic()
        self.start, self.done = start, start
        self.last_logged: Optional[float] = None

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        if not self.total:
            return f"{self.desc}: {self.done} {self.unit}, elapsed {format_duration(elapsed)}"
        new = self.done - self.start
        eta = elapsed / new * (self.total - self.done) if new > 0 else float("nan")
        eta_text = format_duration(eta) if eta == eta else "?"
        percent = 100.0 * self.done / self.total
        return f"{self.desc}: {self.done}/{self.total} {self.unit} ({percent:.0f}%), elapsed {format_duration(elapsed)}, ETA {eta_text}"

    def update(self, count: int = 1, extra: str = "") -> None:
        """Count ``count`` more finished items; log when due (first, every interval, last)."""
        self.update_to(self.done + count, extra)

    def update_to(self, done: int, extra: str = "") -> None:
        """``done`` items are finished now; log when due (first, every interval, last)."""
        self.done = done
        now = time.monotonic()
        last = self.total is not None and self.done >= self.total
        if self.last_logged is None or last or now - self.last_logged >= self.interval:
            self.last_logged = now
            self.logger.info("%s%s", self.line(), f"; {extra}" if extra else "")


def progress(items: Iterable[T], total: Optional[int] = None, desc: str = "", unit: str = "utterances",
             logger: Optional[logging.Logger] = None, stream: Optional[TextIO] = None) -> Iterator[T]:
    """Iterate ``items`` showing progress: a bar when ``stream`` (stderr) is a terminal, else log lines."""
    stream = stream if stream is not None else sys.stderr
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if stream.isatty():
        yield from tqdm(items, total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
        return
    counter = ProgressLog(total, desc, unit, logger)
    for item in items:
        yield item
        counter.update()
