"""A data directory opened by the in-process store (memory://NAME?dir=DIR).

    directory = DataDirectory.open(path, engine, "everysec")  # lock, load, log from now on
    lock = PersistingLock(directory)   # the store's lock: `with lock:` around every command
    directory.cron()      # ~10 times a second, from the store's cron thread, under `lock`
    lock.close()          # write what is left, fsync, let the directory go

The files are the server's, written by the server's pieces (Propagation,
AofDirectory, AppendOnlyFile), laid out as `queuekit server --data-dir DIR`
lays them out (DIR/appendonlydir/, Redis 7's multi-part AOF): the server
opens what memory:// wrote, and the other way round (one at a time).
opened by the same `aofdir.open_aof` as the server's.

Rules:
1. One writer per directory: the directory's lock file (lockfile.py) is
   held for as long as it is open, so a second opener (a server, another
   process, another store of this process) gets PersistenceError naming DIR
   and the holder.
2. Letting go of a `PersistingLock` is the server's release point
   (`release()`): the frames of the writes made under it are written, and
   under `always` fsynced, before the next holder gets it and before the
   command's call returns. A waiter served by another caller's write
   collects its reply under that lock, so after that caller's release: its
   pop is covered too.
3. A write or fsync that fails under `always` fails the directory: the
   PersistenceError goes to the caller whose command it was, and `check()`
   raises it again before every later command, because the dataset in
   memory now holds a write the file may not (the server stops for the same
   reason). Under everysec and no, failures are recorded on the file
   (`aof.last_write_ok`...) and retried, as the server does.
4. `close()` writes what is buffered, fsyncs (whatever the policy, as
   Redis's shutdown does) and lets go of the lock file; `check()` refuses
   commands from then on. Directories still open when the interpreter
   exits are closed then (atexit).
5. A child forked from the owner shares its open files and its lock file,
   so two processes could interleave writes: in the child (at-fork hook)
   each directory is abandoned, so `check()` refuses there and `close()`
   leaves the files alone, and each PersistingLock gets a fresh mutex, as
   the old one may have been held by a thread the child does not have.
6. Compaction: when the files have grown past Redis's automatic-rewrite rule
   (auto-aof-rewrite-percentage 100, min size 64 MB), checked at open and
   by the cron, they are rewritten as one base, the dataset as it is, by
   the server's own steps (aofdir rule 4), so a crash at any moment still
   loads every write. In this process there is no child to fork safely (the
   app has threads), so the rewrite runs in the foreground, under the
   store's lock: it pauses the store while the base is written (0.4 s per
   million small keys), once per doubling of the files. A failed rewrite is
   logged and leaves the files as they were; the cron tries again a minute
   later, not at its next tick (a full disk would otherwise pause the store
   ten times a second).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
import weakref
from pathlib import Path

import structlog

from queuekit.engine.engine import Engine
from queuekit.errors import PersistenceError
from queuekit.persistence.aof import FSYNC_POLICIES, AppendOnlyFile
from queuekit.persistence.aofdir import AofDirectory, open_aof
from queuekit.persistence.lockfile import lock_directory
from queuekit.persistence.propagate import Propagation
from queuekit.persistence.rewrite import write_base_file

log = structlog.get_logger(__name__)

# Redis's auto-aof-rewrite-percentage and auto-aof-rewrite-min-size defaults (rule 6).
REWRITE_PERCENTAGE = 100
REWRITE_MIN_SIZE = 64 * 1024 * 1024
REWRITE_RETRY_S = 60.0  # after a failed compaction (rule 6)


class DataDirectory:
    """One open data directory of an in-process store; see the module rules.

    Not thread-safe: every method but `abandon` runs under the store's lock.
    """

    def __init__(
        self,
        path: Path,
        lock_fd: int,
        propagation: Propagation,
        files: AofDirectory,
        *,
        rewrite_percentage: int = REWRITE_PERCENTAGE,
        rewrite_min_size: int = REWRITE_MIN_SIZE,
    ) -> None:
        assert files.incr is not None
        self.path = path
        self.files = files
        self.aof: AppendOnlyFile = files.incr  # the file appended to
        self._lock_fd = lock_fd
        self._propagation = propagation
        self._rewrite_rule = (rewrite_percentage, rewrite_min_size)
        self._no_compaction_until = 0.0  # time.monotonic(); set by a failure
        self._owner = os.getpid()
        # Why commands are refused (rules 3 to 5); None while they may run.
        self._refusal: PersistenceError | None = None

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], engine: Engine, fsync: str, **rewrite_rule: int
    ) -> DataDirectory:
        """Lock `directory` (made if missing), load it into `engine`, log its writes.

        `rewrite_rule` (rewrite_percentage, rewrite_min_size) overrides Redis's
        automatic-rewrite defaults (rule 6).

        Raises ValueError for an unknown fsync policy, PersistenceError if the
        directory is in use or cannot be read, CorruptFileError (naming the
        file and byte offset) if its file is damaged; the files are left as
        they were, except for a half last command, cut and kept aside.
        """
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"appendfsync {fsync!r} is not one of {', '.join(FSYNC_POLICIES)}")
        path = Path(directory)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PersistenceError(f"cannot make the data directory {path}: {error}") from error
        path = path.resolve()
        lock_fd = lock_directory(path)
        # Attached before the load, so keys it finds expired are logged as DELs.
        propagation = Propagation(engine)
        propagation.attach()
        files: AofDirectory | None = None
        try:
            files, _ = open_aof(path, engine, fsync)
            opened = cls(path, lock_fd, propagation, files, **rewrite_rule)
            opened.release()  # the DELs of keys the load found expired
            opened.compact_if_grown()
        except BaseException:
            propagation.detach()
            if files is not None:
                files.close()
            os.close(lock_fd)
            raise
        return opened

    @property
    def fsync(self) -> str:
        return self.aof.policy

    @property
    def closed(self) -> bool:
        return self._lock_fd < 0

    def check(self) -> None:
        """Raise the reason commands are refused, if there is one (rules 3 to 5)."""
        if self._refusal is not None:
            raise self._refusal

    def release(self) -> None:
        """Write the writes made so far, fsynced under `always` (rule 2)."""
        aof = self.aof
        frames = self._propagation.take()
        if frames:
            aof.append(frames)
        try:
            aof.flush()
        except PersistenceError as error:
            self._refusal = PersistenceError(
                f"data directory {self.path} failed and takes no more commands: {error}"
            )
            raise

    def cron(self) -> None:
        """The cron's expiry DELs into the file, everysec's fsync if one is due,
        and a compaction if the files have grown enough (rule 6)."""
        self.release()
        self.aof.cron()
        self.compact_if_grown()

    def compact_if_grown(self) -> None:
        growth = self.files.growth_due(*self._rewrite_rule)
        if growth is not None and time.monotonic() >= self._no_compaction_until:
            log.info("aof_rewrite_automatic", growth_percent=growth, dir=str(self.path))
            self.compact()

    def compact(self) -> bool:
        """Rewrite the files as one base holding the dataset (rule 6); False if that failed."""
        self.release()  # every write so far into the incr that becomes history
        files = self.files
        temp = files.temp_path(os.getpid())
        try:
            files.begin_rewrite()
            keys = write_base_file(temp, self._propagation.db)
            files.finish_rewrite(temp)
        except (OSError, PersistenceError) as error:
            files.abort_rewrite(temp)
            log.warning("aof_rewrite_failed", dir=str(self.path), error=str(error))
            self._no_compaction_until = time.monotonic() + REWRITE_RETRY_S
            return False
        log.info("aof_rewrite_done", dir=str(self.path), keys=keys, bytes=files.current_size)
        return True

    def close(self) -> None:
        """Write and fsync what is left, let go of the lock (rule 4). Idempotent."""
        if self._lock_fd < 0:
            return
        try:
            self.aof.append(self._propagation.take())
            self._propagation.detach()
            self.files.close()
        except PersistenceError:
            if self._refusal is None:
                raise  # a failed directory's caller heard of its failure already
        finally:
            os.close(self._lock_fd)
            self._lock_fd = -1
            if self._refusal is None:
                self._refusal = PersistenceError(
                    f"data directory {self.path} was closed: open the store again to use it"
                )

    def abandon(self) -> None:
        """In a forked child: refuse commands, leave the parent's files alone (rule 5)."""
        if os.getpid() == self._owner:
            return
        self._refusal = PersistenceError(
            f"data directory {self.path} belongs to process {self._owner}, which forked "
            f"this one ({os.getpid()}): open stores after forking, each on its own directory"
        )
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)  # the parent's copy keeps the lock
        self._lock_fd = -1


class PersistingLock:
    """The lock of a store persisted to `directory`: letting go of it is the
    release point (rule 2), so every path that runs commands under it is covered.

    Used as `with lock:` like a threading.Lock; `check()` refuses commands
    once the directory failed, closed or was abandoned (rules 3 to 5).
    """

    __slots__ = ("__weakref__", "_mutex", "directory")

    def __init__(self, directory: DataDirectory) -> None:
        self.directory = directory
        self._mutex = threading.Lock()
        _open_locks.add(self)

    def __enter__(self) -> bool:
        self._mutex.acquire()
        try:
            self.directory.check()
        except BaseException:
            self._mutex.release()
            raise
        return True

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.directory.release()
        finally:
            self._mutex.release()

    def close(self) -> None:
        """Close the directory once the lock is free (rule 4). Idempotent."""
        with self._mutex:
            self.directory.close()
        _open_locks.discard(self)

    def _after_fork_in_child(self) -> None:
        self._mutex = threading.Lock()
        self.directory.abandon()


# Locks of directories still open: closed at exit, abandoned in a forked child.
_open_locks: weakref.WeakSet[PersistingLock] = weakref.WeakSet()


def _close_all() -> None:
    """At the interpreter's exit: close every directory still open (rule 4)."""
    for lock in list(_open_locks):
        lock.close()


def _abandon_all() -> None:
    """In a forked child (rule 5). No lock is taken: a thread of the parent may
    have held one at the fork, and that thread does not exist here."""
    for lock in list(_open_locks):
        lock._after_fork_in_child()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_abandon_all)
