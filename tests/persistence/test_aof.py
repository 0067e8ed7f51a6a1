"""The AOF writer: what reaches the file when, under each fsync policy."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from queuekit.errors import PersistenceError
from queuekit.persistence.aof import AppendOnlyFile


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Fsyncs:
    """Records each fsync with the file's size on disk at that moment."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sizes: list[int] = []
        self.threads: list[str] = []

    def __call__(self, fd: int) -> None:
        self.sizes.append(os.path.getsize(self.path))
        self.threads.append(threading.current_thread().name)


def open_aof(
    tmp_path: Path, policy: str, *, background: bool = True
) -> tuple[AppendOnlyFile, Fsyncs, Clock]:
    path = tmp_path / "appendonly.aof"
    fsyncs, clock = Fsyncs(path), Clock()
    aof = AppendOnlyFile(path, policy, clock=clock, fsync_fn=fsyncs, background=background)
    return aof, fsyncs, clock


def test_always_writes_and_fsyncs_each_batch_at_the_release_point(tmp_path: Path) -> None:
    """Under always, append only buffers; flush writes the batch and fsyncs it before returning."""
    aof, fsyncs, _ = open_aof(tmp_path, "always")
    aof.append(b"one")
    aof.append(b"two")
    assert os.path.getsize(aof.path) == 0 and fsyncs.sizes == []
    aof.flush()
    assert fsyncs.sizes == [6]
    aof.flush()  # nothing new: no second fsync
    aof.append(b"three")
    aof.flush()
    assert fsyncs.sizes == [6, 11]
    assert (
        aof.info()["aof_last_fsync_status"] == "ok" and aof.info()["aof_pending_fsync_bytes"] == 0
    )
    aof.close()
    assert Path(aof.path).read_bytes() == b"onetwothree"


def test_everysec_fsyncs_at_most_once_a_second(tmp_path: Path) -> None:
    """Under everysec, flush never fsyncs; cron fsyncs written data once a second at most."""
    aof, fsyncs, clock = open_aof(tmp_path, "everysec", background=False)
    aof.append(b"a")
    aof.flush()
    aof.cron()
    assert fsyncs.sizes == []  # the first second since opening has not passed
    clock.now += 1.0
    aof.cron()
    assert fsyncs.sizes == [1]
    for _ in range(9):  # ten crons within the next second, with writes in between
        clock.now += 0.099
        aof.append(b"b")
        aof.flush()
        aof.cron()
    assert fsyncs.sizes == [1]
    clock.now += 0.2
    aof.cron()
    assert fsyncs.sizes == [1, 10]
    clock.now += 5
    aof.cron()  # nothing written since: no fsync
    assert fsyncs.sizes == [1, 10]
    aof.close()


def test_everysec_fsyncs_on_a_background_thread(tmp_path: Path) -> None:
    """everysec's fsync runs off the caller's thread, and close waits for it."""
    aof, fsyncs, clock = open_aof(tmp_path, "everysec")
    aof.append(b"data")
    aof.flush()
    clock.now += 1.0
    aof.cron()
    aof.wait_for_fsync()
    assert fsyncs.threads == ["queuekit-aof-fsync"]
    assert aof.last_fsync_time is not None and aof.fsyncs == 1
    aof.close()


def test_no_fsyncs_only_at_close(tmp_path: Path) -> None:
    """Under no, data is written at flush and fsynced only by close (a clean shutdown)."""
    aof, fsyncs, clock = open_aof(tmp_path, "no", background=False)
    for _ in range(3):
        aof.append(b"x")
        aof.flush()
        clock.now += 2
        aof.cron()
    assert fsyncs.sizes == []
    aof.close()
    assert fsyncs.sizes == [3]
    assert Path(aof.path).read_bytes() == b"xxx"


def test_appends_to_an_existing_file(tmp_path: Path) -> None:
    """Opening an existing file appends after its content and counts its size."""
    path = tmp_path / "appendonly.aof"
    path.write_bytes(b"old")
    aof = AppendOnlyFile(path, "no")
    assert aof.size == 3
    aof.append(b"new")
    aof.close()
    assert path.read_bytes() == b"oldnew"


def test_a_failed_fsync_under_always_raises_and_is_reported(tmp_path: Path) -> None:
    """Under always a failed fsync raises PersistenceError, so no reply is sent; INFO says err."""
    path = tmp_path / "appendonly.aof"

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    aof = AppendOnlyFile(path, "always", fsync_fn=failing)
    aof.append(b"x")
    with pytest.raises(PersistenceError, match=r"fsync of the append only file .* failed"):
        aof.flush()
    assert aof.info()["aof_last_fsync_status"] == "err"
    aof.close()


def test_an_unknown_policy_is_refused(tmp_path: Path) -> None:
    """A policy other than always, everysec or no is a ValueError naming the choices."""
    with pytest.raises(ValueError, match="'sometimes' is not one of always, everysec, no"):
        AppendOnlyFile(tmp_path / "a.aof", "sometimes")


def test_switch_fsyncs_the_old_file_whatever_the_policy_then_appends_to_the_new(
    tmp_path: Path,
) -> None:
    """switch writes and fsyncs what was appended, even under `no`, then writes elsewhere."""
    aof, fsyncs, _ = open_aof(tmp_path, "no")
    aof.append(b"old")
    aof.switch(tmp_path / "next.aof")
    assert fsyncs.sizes == [3]
    aof.append(b"new")
    aof.flush()
    assert (tmp_path / "appendonly.aof").read_bytes() == b"old"
    assert (tmp_path / "next.aof").read_bytes() == b"new"
    assert (aof.path, aof.size) == (str(tmp_path / "next.aof"), 3)


def test_a_switch_that_cannot_open_the_new_file_keeps_appending_to_the_old(
    tmp_path: Path,
) -> None:
    """A new file that cannot be opened raises PersistenceError; nothing moves."""
    aof, _, _ = open_aof(tmp_path, "always")
    with pytest.raises(PersistenceError, match="cannot open the append only file"):
        aof.switch(tmp_path / "no-such-dir" / "next.aof")
    aof.append(b"still")
    aof.flush()
    assert (tmp_path / "appendonly.aof").read_bytes() == b"still"
