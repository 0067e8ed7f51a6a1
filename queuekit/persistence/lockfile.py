"""One writer per data directory: DIR/queuekit.lock, held with flock.

    fd = lock_directory(path)   # PersistenceError naming DIR and the holder if taken
    os.close(fd)                # let go

Two writers would interleave their appends and rewrites in one set of files,
so a server (`--data-dir`) and an in-process store (`memory://?dir=`) each
hold the directory's lock for as long as they use it.

Rules:
1. The lock is an flock on DIR/queuekit.lock, which holds the owner's pid
   so the refusal can name it. The kernel lets go when the holder dies,
   SIGKILL included: a crash leaves no stale lock behind.
2. A forked child shares the lock (the open file description): the
   server's persistence child keeps it while it writes, and dies with the
   server (fork.py), so the lock is never held by an orphan.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from queuekit.errors import PersistenceError

LOCK_NAME = "queuekit.lock"


def lock_directory(directory: Path) -> int:
    """Hold DIR/queuekit.lock (rule 1); the open descriptor, closed to let go."""
    path = directory / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise PersistenceError(f"cannot open the lock file {path}: {error}") from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _holder(fd)
        os.close(fd)
        raise PersistenceError(
            f"data directory {directory} is in use by {holder}: one store at a time "
            f"writes a directory (its lock file is {path})"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    return fd


def _holder(fd: int) -> str:
    """Who holds the lock, from the pid its holder wrote in the file."""
    text = os.pread(fd, 32, 0).strip()
    if not text.isdigit():
        return "another process"
    pid = int(text)
    if pid == os.getpid():
        return f"another store of this process (pid {pid})"
    return f"process {pid}"
