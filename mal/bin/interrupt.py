"""Ctrl-C that always stops a CLI: a KeyboardInterrupt raised while Python runs an at-fork hook
(DataLoader starting its workers) is swallowed and printed as "Exception ignored"; here it is
raised again until it reaches the caller. Once interrupted, "Exception ignored" reports (the
swallowed interrupt, a half-built DataLoader iterator's cleanup) are not printed: the process
is on its way out. A forked child (a loader worker, maybe still starting up) that inherited the
handler ends at once, quietly and with status 0: a traceback there would be noise, and a child
that lingered (one the interrupted parent never recorded) would hold the terminal's pipes."""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Iterator, NoReturn


@contextlib.contextmanager
def reliable_interrupt(retry_seconds: float = 0.5) -> Iterator[None]:
    """While active, SIGINT raises KeyboardInterrupt, again every ``retry_seconds`` until one is handled."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # signals go to the main thread only; an ignored SIGINT stays ignored
        return
    interrupted = [False]
    owner = os.getpid()

    def interrupt(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a forked child: status 0, which DataLoader does not report as
            os._exit(0)  # a worker failure in the interrupted parent
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


def exit_interrupted(message: str) -> NoReturn:
    """Print ``message``, flush the logs and end the process with status 130 at once.

    Nothing interrupted is cleaned up: an interrupt can land inside a lock (a DataLoader
    queue's), and the interrupted iterator's cleanup then waits on that lock forever. Call it
    only where everything worth keeping is already on disk.
    """
    print(message, file=sys.stderr)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(130)
