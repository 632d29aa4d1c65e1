"""mal.bin.interrupt.reliable_interrupt: a Ctrl-C swallowed where Python cannot raise it (an
at-fork hook) is raised again, and the swallowed one is not printed."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time

import pytest

from mal.bin.interrupt import reliable_interrupt


@pytest.fixture(autouse=True)
def _interactive_sigint():
    """The tests stand for a Ctrl-C at a terminal: a suite started in the background by a
    non-interactive shell inherits SIGINT ignored, which reliable_interrupt rightly leaves alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _restore_unraisablehook():
    """An interrupted context leaves its hook for the exiting CLI; put pytest's back."""
    hook = sys.unraisablehook
    yield
    sys.unraisablehook = hook


def _swallowed_sigint() -> None:
    """SIGINT while something swallows the KeyboardInterrupt (as an at-fork hook does)."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler runs here
    except KeyboardInterrupt:
        pass


def test_a_swallowed_interrupt_is_raised_again():
    reached = False
    with pytest.raises(KeyboardInterrupt):
        with reliable_interrupt(retry_seconds=0.05):
            _swallowed_sigint()
            for _ in range(200):  # the retry interrupts this wait
                time.sleep(0.05)
            reached = True
    assert not reached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_handled_interrupt_is_not_raised_again_and_nothing_is_left_armed():
    with pytest.raises(KeyboardInterrupt):
        with reliable_interrupt(retry_seconds=0.05):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    for _ in range(10):  # a retry left armed would raise here
        time.sleep(0.05)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_an_unraisable_keyboard_interrupt_is_not_printed(capsys):
    with reliable_interrupt():
        sys.unraisablehook(type("U", (), {"exc_value": KeyboardInterrupt(), "exc_type": KeyboardInterrupt})())
    assert capsys.readouterr().err == ""


def _wait_for_sigint(ready: "multiprocessing.synchronize.Event") -> None:
    ready.set()
    time.sleep(1)  # the parent's SIGINT lands here


def test_a_forked_child_ignores_the_interrupt(capfd):
    """A Ctrl-C reaches the whole process group: a loader worker forked while the context is active
    must not print a KeyboardInterrupt traceback; the owning process stops it."""
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    with reliable_interrupt(retry_seconds=0.05):
        child = context.Process(target=_wait_for_sigint, args=(ready,))
        child.start()
        assert ready.wait(30)
        os.kill(child.pid, signal.SIGINT)
        child.join(30)
    assert child.exitcode == 0
    assert "KeyboardInterrupt" not in capfd.readouterr().err
