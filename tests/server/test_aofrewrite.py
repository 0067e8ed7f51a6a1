"""The rewrite scheduler's decisions, on a stand-in server: when to rewrite, when to wait.

The stand-in runs the child's work in the test's own process (no fork) and
hands its result back when the test says the child ended, so each decision
of aofrewrite.py is checked without subprocesses or timing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.engine.session import Session
from queuekit.persistence.aofdir import AofDirectory
from queuekit.persistence.fork import ChildResult
from queuekit.persistence.propagate import Propagation
from queuekit.server.aofrewrite import (
    REWRITE_FAILURES_BEFORE_DELAY,
    SCHEDULED,
    STARTED,
    AofRewriter,
)
from queuekit.server.config import ServerConfig
from tests.engine.support import START_MS

OK = ChildResult(True, "", 0.5)


class Child:
    def __init__(self) -> None:
        self.pid = os.getpid()  # the work ran here, so its temp file is named after us
        self.name = "bgrewriteaof"
        self.started_at = 0.0


class StandIn:
    """What AofRewriter uses of a Server: config, engine, aof_dir, release, the child slot."""

    def __init__(self, data_dir: Path, **settings: object) -> None:
        self.config = ServerConfig(data_dir=str(data_dir), appendonly=True, **settings)  # type: ignore[arg-type]
        self.engine = Engine(FakeClock(START_MS))
        self.propagation = Propagation(self.engine)
        self.propagation.attach()
        self.aof_dir = AofDirectory(data_dir)
        self.aof = self.aof_dir.open(self.engine, "no", background=False)
        self.rewriter = AofRewriter(self)  # type: ignore[arg-type]
        self.child: Child | None = None
        self.fork_error: OSError | None = None
        self._on_done: Callable[[ChildResult], None] | None = None

    def write(self, *argv: bytes) -> None:
        self.engine.execute(Session(), list(argv))
        self.release()

    def release(self) -> bool:
        self.aof.append(self.propagation.take())
        self.aof.flush()
        return True

    def start_child(
        self, name: str, work: Callable[[], None], on_done: Callable[[ChildResult], None]
    ) -> Child:
        if self.fork_error is not None:
            raise self.fork_error
        work()
        self.child, self._on_done = Child(), on_done
        return self.child

    def child_ends(self, result: ChildResult = OK) -> None:
        on_done, self._on_done, self.child = self._on_done, None, None
        assert on_done is not None
        on_done(result)
        if self.aof_dir.unlinking is not None:  # the replaced files, deleted on a thread
            self.aof_dir.unlinking.join(30)


def test_no_automatic_rewrite_below_the_min_size_then_one_past_it(tmp_path: Path) -> None:
    """Growth alone is not enough: the AOF must also be larger than the min size."""
    server = StandIn(tmp_path, auto_aof_rewrite_min_size=200)
    server.write(b"SET", b"k", b"x" * 100)
    server.rewriter.cron()
    assert server.child is None and server.rewriter.rewrites == 0
    server.write(b"SET", b"k", b"y" * 100)
    server.rewriter.cron()
    assert server.child is not None and server.rewriter.rewrites == 1


def test_after_a_rewrite_the_next_waits_for_the_percentage_of_growth(tmp_path: Path) -> None:
    """Growth is measured against the size right after the last rewrite."""
    server = StandIn(tmp_path, auto_aof_rewrite_min_size=0, auto_aof_rewrite_percentage=100)
    for n in range(50):
        server.write(b"SET", b"k:%d" % n, b"v" * 50)
    server.rewriter.cron()
    server.child_ends()
    compacted = server.aof_dir.current_size
    assert server.aof_dir.size_at_rewrite == compacted > 0
    while server.aof_dir.current_size < 2 * compacted:
        server.rewriter.cron()
        assert server.child is None, "rewrote before doubling"
        server.write(b"SET", b"other", b"v" * 50)
    server.rewriter.cron()
    assert server.rewriter.rewrites == 2


def test_a_percentage_of_zero_never_rewrites_on_its_own(tmp_path: Path) -> None:
    """auto-aof-rewrite-percentage 0 turns the automatic rewrite off."""
    server = StandIn(tmp_path, auto_aof_rewrite_min_size=0, auto_aof_rewrite_percentage=0)
    server.write(b"SET", b"k", b"v" * 500)
    server.rewriter.cron()
    assert server.rewriter.rewrites == 0


def test_repeated_failures_delay_automatic_rewrites_but_not_one_by_hand(tmp_path: Path) -> None:
    """After three failures in a row the cron waits; BGREWRITEAOF still starts at once."""
    server = StandIn(tmp_path, auto_aof_rewrite_min_size=0)
    server.write(b"SET", b"k", b"v")
    server.fork_error = OSError(12, "Cannot allocate memory")
    for _ in range(REWRITE_FAILURES_BEFORE_DELAY):
        server.rewriter.cron()
    assert server.rewriter.failures_in_a_row == REWRITE_FAILURES_BEFORE_DELAY
    listed = len(server.aof_dir.manifest.incrs)
    server.rewriter.cron()
    server.rewriter.cron()
    assert len(server.aof_dir.manifest.incrs) == listed, "a limited cron still tried"
    server.fork_error = None
    assert server.rewriter.request(server.engine) == STARTED
    server.child_ends()
    assert server.rewriter.failures_in_a_row == 0 and server.rewriter.last_ok


def test_a_child_that_failed_leaves_every_file_listed(tmp_path: Path) -> None:
    """A failed child: status err, its temp file gone, the new incr still listed."""
    server = StandIn(tmp_path)
    server.write(b"SET", b"k", b"v")
    assert server.rewriter.request(server.engine) == STARTED
    temp = server.aof_dir.temp_path(os.getpid())
    assert temp.exists()
    server.child_ends(ChildResult(False, "the child was killed by SIGKILL", 0.1))
    assert not temp.exists()
    assert not server.rewriter.last_ok
    assert [f.seq for f in server.aof_dir.manifest.files] == [1, 1, 2]
    assert server.rewriter.info()["aof_last_bgrewrite_status"] == "err"


@pytest.mark.parametrize("busy", ["another child", "inside EXEC"])
def test_bgrewriteaof_is_scheduled_when_it_cannot_fork_now(tmp_path: Path, busy: str) -> None:
    """Behind another child, or inside EXEC, it is scheduled and the cron starts it later."""
    server = StandIn(tmp_path)
    if busy == "another child":
        server.child = Child()
    server.engine.in_exec = busy == "inside EXEC"
    assert server.rewriter.request(server.engine) == SCHEDULED
    server.engine.in_exec = False  # the EXEC is over before the cron runs
    assert server.rewriter.info()["aof_rewrite_scheduled"] == 1
    server.rewriter.cron()
    assert server.rewriter.rewrites == (0 if busy == "another child" else 1)
    server.child = None
    server.rewriter.cron()
    assert server.rewriter.rewrites == 1 and not server.rewriter.scheduled


def test_a_scheduled_rewrite_that_cannot_fork_stays_scheduled(tmp_path: Path) -> None:
    """A failed start leaves the rewrite scheduled; the next cron tries again."""
    server = StandIn(tmp_path)
    server.child = Child()
    assert server.rewriter.request(server.engine) == SCHEDULED
    server.child = None
    server.fork_error = OSError(11, "Resource temporarily unavailable")
    server.rewriter.cron()
    assert server.rewriter.scheduled and not server.rewriter.last_ok
    server.fork_error = None
    server.rewriter.cron()
    assert not server.rewriter.scheduled and server.child is not None
