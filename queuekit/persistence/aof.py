"""The append-only file writer, with Redis's three fsync policies.

    aof = AppendOnlyFile(path, fsync="everysec")
    aof.append(propagation.take())   # after each batch of commands
    aof.flush()                      # before the batch's replies are sent
    aof.cron()                       # ~10 times a second, from the server's cron
    aof.close()

Rules:
1. `append` only buffers (Redis's aof_buf); `flush` writes the buffer to the
   file. The server calls `flush` at its release point, after a batch of
   commands ran and before their replies leave, so what a client was told is
   in the file, at least in the OS's cache.
2. `always`: `flush` also fsyncs, so a write is on disk before its reply is
   sent. `everysec`: `cron` fsyncs at most once a second when something was
   written since the last fsync. `no`: the OS decides when.
3. everysec's fsync runs off the event loop, on one background thread
   (Redis's bio fsync job): an fsync can take tens of milliseconds on a busy
   disk, and no client command should wait for it. The decision *when* is
   taken in `cron`, on the server's clock, so tests drive it with a fake
   one; `background=False` runs the fsync inline (tests, shutdown). At most
   one fsync is in flight; a second one is not queued behind it.
4. A failed write or fsync is recorded (`last_write_ok`, `last_fsync_ok`, the
   error) for INFO persistence; under `always` it raises PersistenceError,
   because the caller must not send replies for writes that are not on disk.
   A partial write is completed on the next flush, never duplicated.
5. The file is opened for appending and never truncated here.
6. `switch(path)` moves the appending to another file, as an AOF rewrite
   starts a new incr file (Redis's openNewIncrAofForAppend): everything
   appended so far is written and fsynced to the old file first, whatever
   the policy, so no write made before the switch lands in the new file,
   and the old file, no longer the last one, never loses its tail.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from queuekit.errors import PersistenceError

FSYNC_POLICIES = ("always", "everysec", "no")
# everysec's period, as Redis's: at most one fsync a second.
EVERYSEC_PERIOD_S = 1.0


class AppendOnlyFile:
    """One open append-only file; see the module rules. Not thread-safe: one caller."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        fsync: str = "everysec",
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        fsync_fn: Callable[[int], None] = os.fsync,
        background: bool = True,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"appendfsync {fsync!r} is not one of {', '.join(FSYNC_POLICIES)}")
        self.path = os.fspath(path)
        self.policy = fsync
        self._clock = clock
        self._wall_clock = wall_clock
        self._fsync_fn = fsync_fn
        self._background = background
        self._fd = _open_for_append(self.path)
        self._buffer = bytearray()
        self.size = os.fstat(self._fd).st_size  # bytes in the file
        self.synced_size = self.size  # bytes known to be on disk
        # For INFO persistence.
        self.last_write_ok = True
        self.last_write_error = ""
        self.last_fsync_ok = True
        self.last_fsync_error = ""
        self.last_fsync_time: float | None = None  # Unix seconds of the last good fsync
        self.fsyncs = 0
        self._last_fsync_at = clock()  # monotonic, for everysec's period
        self._in_flight: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the fsync bookkeeping across threads

    # -- the release point -------------------------------------------------------

    def append(self, frames: bytes) -> None:
        """Buffer the frames of one batch of commands (rule 1)."""
        if frames:
            self._buffer += frames

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)

    def flush(self) -> None:
        """Write what was appended; under `always`, fsync it too (rules 1, 2, 4).

        Call it after a batch ran and before its replies are sent.
        """
        if self._buffer:
            self._write()
        if self.policy == "always" and self.synced_size < self.size:
            self._fsync(self.size)
            if not self.last_fsync_ok:
                raise PersistenceError(
                    f"fsync of the append only file {self.path} failed: {self.last_fsync_error}"
                )

    def _write(self) -> None:
        view = memoryview(self._buffer)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError as error:
            self.last_write_ok = False
            self.last_write_error = str(error)
            if self.policy == "always":
                self._drop_written(view, written)
                raise PersistenceError(
                    f"write to the append only file {self.path} failed: {error}"
                ) from error
        else:
            self.last_write_ok = True
            self.last_write_error = ""
        self._drop_written(view, written)

    def _drop_written(self, view: memoryview, written: int) -> None:
        view.release()
        del self._buffer[:written]
        self.size += written

    # -- everysec --------------------------------------------------------------------

    def cron(self) -> None:
        """everysec: start an fsync if one is due (rule 3); other policies: nothing."""
        if self.policy != "everysec" or self.synced_size >= self.size:
            return
        if self._clock() - self._last_fsync_at < EVERYSEC_PERIOD_S:
            return
        if self._in_flight is not None and self._in_flight.is_alive():
            return
        self._last_fsync_at = self._clock()
        target = self.size
        if not self._background:
            self._fsync(target)
            return
        self._in_flight = threading.Thread(
            target=self._fsync, args=(target,), name="queuekit-aof-fsync", daemon=True
        )
        self._in_flight.start()

    def _fsync(self, target: int) -> None:
        """fsync the file; everything up to `target` bytes is then on disk."""
        try:
            self._fsync_fn(self._fd)
        except OSError as error:
            with self._lock:
                self.last_fsync_ok = False
                self.last_fsync_error = str(error)
            return
        with self._lock:
            self.fsyncs += 1
            self.synced_size = max(self.synced_size, target)
            self.last_fsync_ok = True
            self.last_fsync_error = ""
            self.last_fsync_time = self._wall_clock()

    # -- switching files -----------------------------------------------------------

    def switch(self, path: str | os.PathLike[str]) -> None:
        """Write and fsync everything appended so far, then append to `path` (rule 6).

        Raises PersistenceError if the old file cannot be written or synced,
        or the new one opened; this file is then still the one appended to.
        """
        if self._buffer:
            self._write()
        if self._buffer:  # a failed write under everysec or no leaves bytes behind
            raise PersistenceError(
                f"cannot switch from the append only file {self.path}: {self.last_write_error}"
            )
        self.wait_for_fsync()
        if self.synced_size < self.size:
            self._fsync(self.size)
            if not self.last_fsync_ok:
                raise PersistenceError(
                    f"fsync of the append only file {self.path} failed: {self.last_fsync_error}"
                )
        new_path = os.fspath(path)
        fd = _open_for_append(new_path)
        os.close(self._fd)
        self._fd, self.path = fd, new_path
        self.size = self.synced_size = os.fstat(fd).st_size

    # -- the end -----------------------------------------------------------------------

    def wait_for_fsync(self, timeout_s: float = 30.0) -> None:
        """Wait for a background fsync in flight, if any (tests, shutdown)."""
        if self._in_flight is not None:
            self._in_flight.join(timeout_s)

    def close(self) -> None:
        """Write what is buffered, fsync, close the file.

        The fsync happens whatever the policy, `no` included: a clean shutdown
        leaves everything on disk, as Redis's prepareForShutdown does.
        """
        try:
            if self._buffer:
                self._write()
            self.wait_for_fsync()
            if self.synced_size < self.size:
                self._fsync(self.size)
        finally:
            os.close(self._fd)

    def info(self) -> dict[str, object]:
        """The figures INFO persistence shows (Redis's aof_* field names)."""
        return {
            "aof_enabled": 1,
            "aof_fsync": self.policy,
            "aof_current_size": self.size,
            "aof_buffer_length": len(self._buffer),
            "aof_pending_fsync_bytes": self.size - self.synced_size,
            "aof_last_write_status": "ok" if self.last_write_ok else "err",
            "aof_last_fsync_status": "ok" if self.last_fsync_ok else "err",
            "aof_last_fsync_time": self.last_fsync_time,
            "aof_fsyncs": self.fsyncs,
        }


def _open_for_append(path: str) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as error:
        raise PersistenceError(f"cannot open the append only file {path}: {error}") from error
