"""mal.bin.interrupt.reliable_interrupt: a Ctrl-C swallowed where Python cannot raise it (an
at-fork hook) is raised again, and the swallowed one is not printed."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
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
    time.sleep(60)  # the parent's SIGINT lands here


def test_a_forked_child_ends_quietly_at_once(capfd):
    """A Ctrl-C reaches the whole process group: a loader worker forked while the context is active
    ends at once with status 0 (not a failed worker), without a KeyboardInterrupt traceback."""
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    with reliable_interrupt(retry_seconds=0.05):
        child = context.Process(target=_wait_for_sigint, args=(ready,))
        child.start()
        assert ready.wait(30)
        os.kill(child.pid, signal.SIGINT)
        child.join(20)  # well before its sleep ends
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0
    assert "KeyboardInterrupt" not in capfd.readouterr().err


def test_exit_interrupted_flushes_the_log_and_skips_cleanup_that_would_hang(tmp_path):
    """The interrupted code left a lock held (as a KeyboardInterrupt inside a DataLoader queue's
    put can); the cleanup of what it leaves behind would wait on that lock forever."""
    log = tmp_path / "train.log"
    script = textwrap.dedent(f"""
        import logging, threading
        from mal.bin.interrupt import exit_interrupted
        logging.basicConfig(filename={str(log)!r}, level=logging.INFO)
        held = threading.Lock()
        held.acquire()

        class Leftover:
            def __del__(self):
                held.acquire()

        def interrupted():
            leftover = Leftover()
            logging.info("epoch 1 done")
            raise KeyboardInterrupt

        try:
            interrupted()
        except KeyboardInterrupt:
            exit_interrupted("tool: interrupted")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130 and proc.stderr == "tool: interrupted\n", proc.stderr
    assert "epoch 1 done" in log.read_text()
