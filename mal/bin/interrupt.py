"""Ctrl-C that always stops a CLI: a KeyboardInterrupt raised while Python runs an at-fork hook
(DataLoader starting its workers) is swallowed and printed as "Exception ignored"; here it is
raised again until it reaches the caller. Once interrupted, "Exception ignored" reports (the
swallowed interrupt, a half-built DataLoader iterator's cleanup) are not printed: the process
is on its way out. Forked children (loader workers) inherit the handler but ignore Ctrl-C: the
process that set it up stops them."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator


@contextlib.contextmanager
def reliable_interrupt(retry_seconds: float = 0.5) -> Iterator[None]:
    """While active, SIGINT raises KeyboardInterrupt, again every ``retry_seconds`` until one is handled."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # signals go to the main thread only; an ignored SIGINT stays ignored
        return
    interrupted = [False]
    owner = os.getpid()

    def interrupt(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a forked child, maybe still starting up, where a
            return  # KeyboardInterrupt would print a traceback; the owner ends it
        if sys.exc_info()[0] is KeyboardInterrupt:  # an except or finally block is running: it may
            signal.setitimer(signal.ITIMER_REAL, retry_seconds)  # swallow the interrupt, so try again later
            return
        interrupted[0] = True
        signal.setitimer(signal.ITIMER_REAL, retry_seconds)
        raise KeyboardInterrupt

    def again(signum: int, frame: object) -> None:
        if interrupted[0]:
            interrupt(signum, frame)

    def hook(unraisable: "sys.UnraisableHookArgs") -> None:
        if not (interrupted[0] or isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous_hook(unraisable)

    previous_int, previous_alarm = signal.signal(signal.SIGINT, interrupt), signal.signal(signal.SIGALRM, again)
    previous_hook, sys.unraisablehook = sys.unraisablehook, hook
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGALRM, previous_alarm)
        if not interrupted[0]:  # else objects freed with the interrupt's traceback still report
            sys.unraisablehook = previous_hook
