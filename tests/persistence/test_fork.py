"""queuekit.persistence.fork: a forked child's outcome reaches the parent."""

from __future__ import annotations

import gc
import os
import signal
import time
from pathlib import Path

from queuekit.persistence import fork

WAIT_S = 30.0


def wait(child: fork.ForkedChild) -> fork.ChildResult:
    deadline = time.monotonic() + WAIT_S
    while (result := child.poll()) is None:
        assert time.monotonic() < deadline, f"child {child.pid} still runs after {WAIT_S} s"
        time.sleep(0.01)
    return result


def test_a_child_that_succeeds_reports_ok_and_its_work_is_done(tmp_path: Path) -> None:
    """work() runs in the child; poll() then answers ok with no error."""
    target = tmp_path / "out"
    child = fork.start(lambda: target.write_bytes(b"written by the child"), name="bgsave")
    assert child.name == "bgsave" and child.pid != os.getpid()
    assert abs(child.started_at - time.time()) < 60
    result = wait(child)
    assert result.ok and result.error == "" and result.duration_s >= 0
    assert target.read_bytes() == b"written by the child"
    assert child.poll() is result  # reaped once, answered again


def test_a_child_that_raises_reports_the_error_text() -> None:
    """An exception in work() becomes a failed result carrying its type and text."""

    def work() -> None:
        raise OSError(28, "No space left on device")

    result = wait(fork.start(work, name="bgsave"))
    assert not result.ok
    assert result.error == "OSError: [Errno 28] No space left on device"


def test_a_very_long_error_is_cut_and_does_not_block_the_child() -> None:
    """An error text longer than a pipe's buffer is cut, and the child still exits."""

    def work() -> None:
        raise ValueError("x" * 200_000)

    result = wait(fork.start(work, name="bgsave"))
    assert not result.ok and len(result.error) == fork.MAX_ERROR_BYTES


def test_a_killed_child_reports_the_signal() -> None:
    """kill() SIGKILLs a running child, reaps it, and the result names the signal."""
    child = fork.start(lambda: time.sleep(WAIT_S), name="bgrewriteaof")
    assert child.poll() is None
    result = child.kill()
    assert not result.ok and result.error == "the child was killed by SIGKILL"
    assert child.poll() is result and child.kill() is result


def test_a_child_killed_from_outside_is_a_failure() -> None:
    """A child that dies of a signal someone else sent is reported by poll()."""
    child = fork.start(lambda: time.sleep(WAIT_S), name="bgsave")
    os.kill(child.pid, signal.SIGTERM)
    assert wait(child).error == "the child was killed by SIGTERM"


def test_the_parents_signal_handlers_do_not_run_in_the_child(tmp_path: Path) -> None:
    """A Python handler the parent installed is back to the default in the child."""
    caught: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: caught.append(signum))
    started = tmp_path / "started"

    def work() -> None:
        started.touch()
        time.sleep(WAIT_S)

    try:
        child = fork.start(work, name="bgsave")
        deadline = time.monotonic() + WAIT_S
        while not started.exists():  # the child has reset its handlers by then
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGUSR1)
        assert wait(child).error == "the child was killed by SIGUSR1"
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert caught == []


def test_the_parents_collector_is_frozen_until_the_child_is_reaped() -> None:
    """gc.freeze() holds while the child runs and is undone when it is reaped."""
    assert gc.get_freeze_count() == 0
    child = fork.start(lambda: time.sleep(WAIT_S), name="bgsave")
    try:
        assert gc.get_freeze_count() > 0
    finally:
        child.kill()
    assert gc.get_freeze_count() == 0
