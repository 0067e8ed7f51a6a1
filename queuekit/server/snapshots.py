"""Snapshots in the server: SAVE, BGSAVE, LASTSAVE, save points, start-up and shutdown.

    snapshots = Snapshots(server)   the server owns one
    snapshots.load()                at start, appendonly off: DIR/dump.qkdb if present
    snapshots.count_from_now()      once loaded: changes count from zero
    snapshots.cron()                a due save point or a scheduled BGSAVE forks the child
    snapshots.shutdown()            the last snapshot, on a clean stop with save points set
    snapshots.flushed()             after FLUSHALL: no old snapshot outlives it
    snapshots.info()                INFO persistence's rdb_* fields

Rules (Redis's saveCommand, bgsaveCommand, serverCron, prepareForShutdown):
1. The changes since the last save are the keyspace's change counter (db
   rule 7) less its value when the last good snapshot began: a BGSAVE's
   child holds the dataset as of its fork, so only changes before the fork
   are covered once it succeeds.
2. BGSAVE forks the server's one child (`server.child`) to write the file
   (snapshot.py). While a BGSAVE runs, BGSAVE and SAVE are refused; while
   another child (an AOF rewrite) runs, BGSAVE is refused unless SCHEDULE
   is given, and then starts from the cron once the slot frees. Inside
   EXEC it is always scheduled: a fork mid-transaction would keep half of it.
3. SAVE writes in the foreground, every client waiting, as Redis's does.
4. A failed background save is logged and shows as rdb_last_bgsave_status:err;
   its temp file is removed. While that stands, save points are set and
   stop-writes-on-bgsave-error is yes (the default), writes and PING get
   Redis's MISCONF error (engine.writes_refused): acknowledging writes
   that no snapshot can keep would be a silent loss. A good SAVE or BGSAVE
   lifts it; save points retry BGSAVE_RETRY_DELAY_S after each failure.
5. A clean stop (SIGTERM, Ctrl-C) with save points set writes a snapshot
   in the foreground once the server has killed its child (a BGSAVE child
   killed so is cancelled, not failed). If that fails, the error is logged
   as critical with the changes it loses, and the server exits with an
   error (Redis refuses to exit instead; a supervisor's SIGKILL would then
   lose the same changes later).
6. At start with appendonly off, DIR/dump.qkdb is loaded if present; keys
   whose deadline passed while the server was down are not (snapshot rule
   3). A damaged file stops the start (CorruptFileError, file and offset)
   and is left as it was. With appendonly on, the AOF alone is the dataset,
   as on Redis.
7. FLUSHALL (Redis's flushAllDataAndResetRDB) cancels a running BGSAVE,
   whose snapshot of the old keys is of no use, and with save points set
   saves the empty dataset in the foreground: otherwise a crash before the
   next save would bring the flushed keys back from the last snapshot.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from queuekit.engine import errors
from queuekit.engine.command import command
from queuekit.engine.commands import keys
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import OK, Reply, Status
from queuekit.errors import PersistenceError
from queuekit.persistence.savepoints import BGSAVE_RETRY_DELAY_S, due
from queuekit.persistence.snapshot import (
    SnapshotReport,
    load_snapshot,
    temp_path,
    write_snapshot,
)
from queuekit.server.commands import connection_of

if TYPE_CHECKING:
    from pathlib import Path

    from queuekit.engine.engine import Engine
    from queuekit.engine.session import Session
    from queuekit.persistence.fork import ChildResult, ForkedChild
    from queuekit.server.app import Server

log = structlog.get_logger(__name__)

CHILD_NAME = "bgsave"
ALREADY_RUNNING = "ERR Background save already in progress"
ANOTHER_CHILD = (
    "ERR Another child process is active (AOF?): can't BGSAVE right now. "
    "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
)
CANNOT_FORK = "ERR Background save could not start: {error} (see the server log)"
NO_DATA_DIR = (
    "ERR snapshots need a data directory to write to: "
    "start the server with --data-dir DIR (QUEUEKIT_DATA_DIR)"
)
STARTED = Status(b"Background saving started")
SCHEDULED = Status(b"Background saving scheduled")


class Snapshots:
    """The snapshot state of one server; see the module rules."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.last_save_time = time.time()  # LASTSAVE: the start, until a save (Redis's)
        self._last_save_at = time.monotonic()
        self._changes_at_save = 0  # rule 1
        self._changes_at_fork = 0
        self.last_bgsave_ok = True
        self._last_try_at = float("-inf")  # monotonic time of the last fork attempt
        self.last_bgsave_s: float | None = None
        self.saves = 0  # SAVE and BGSAVE started (Redis's rdb_saves)
        self.scheduled = False
        self.loaded: SnapshotReport | None = None
        self._child: ForkedChild | None = None
        self._cancelling = False  # FLUSHALL is killing the BGSAVE child (rule 7)
        self._load_tried = False

    @property
    def in_progress(self) -> bool:
        return self._child is not None

    @property
    def changes_since_save(self) -> int:
        return self.server.engine.db.changes - self._changes_at_save

    def _path(self) -> Path:
        path = self.server.config.snapshot_path
        if path is None:
            raise CommandError(NO_DATA_DIR)
        return path

    # -- start-up (rule 6) ---------------------------------------------------------

    def load(self) -> None:
        """Load DIR/dump.qkdb into the empty engine, when appendonly is off and it exists.

        Raises CorruptFileError naming the file and offset, PersistenceError
        if it cannot be read; the file is left as it was either way.
        """
        config = self.server.config
        path = config.snapshot_path
        if self._load_tried or path is None:
            return
        self._load_tried = True  # run() opens persistence, then serve() again
        path.parent.mkdir(parents=True, exist_ok=True)  # where SAVE and BGSAVE will write
        if config.appendonly or not path.exists():
            return
        report = load_snapshot(path, self.server.engine)
        self.loaded = report
        log.info(
            "snapshot_loaded",
            path=str(path),
            keys=report.keys - report.expired_keys,
            expired_keys=report.expired_keys,
            bytes=report.file_bytes,
            created_ms=report.created_ms,
        )

    def count_from_now(self) -> None:
        """Changes count from here: what the start-up loaded (snapshot or AOF) is on disk."""
        self._changes_at_save = self.server.engine.db.changes

    # -- SAVE and BGSAVE (rules 2, 3) ------------------------------------------------

    def save(self) -> Reply:
        """SAVE's decision and work."""
        if self.in_progress:
            raise CommandError(ALREADY_RUNNING)
        path = self._path()
        engine = self.server.engine
        self.saves += 1
        changes = engine.db.changes
        try:
            report = write_snapshot(engine.db, path, key_delay_s=self.server.config.key_save_delay)
        except PersistenceError as error:
            log.error("save_failed", error=str(error))
            raise CommandError(f"ERR {error}") from None
        self._saved(changes)
        log.info("saved", path=str(path), keys=report.keys, bytes=report.file_bytes)
        return OK

    def bgsave(self, engine: Engine, schedule: bool) -> Reply:
        """BGSAVE's decision: start now, schedule, or refuse."""
        if self.in_progress:
            raise CommandError(ALREADY_RUNNING)
        self._path()
        if self.server.child is not None or engine.in_exec:
            if not (schedule or engine.in_exec):
                raise CommandError(ANOTHER_CHILD)
            self.scheduled = True
            return SCHEDULED
        error = self.start()
        if error is not None:
            raise CommandError(CANNOT_FORK.format(error=error))
        return STARTED

    def start(self) -> str | None:
        """Fork the child that writes the snapshot; the error if the fork failed (rule 4)."""
        server = self.server
        db, path, delay = server.engine.db, self._path(), server.config.key_save_delay
        self.scheduled = False
        self._last_try_at = time.monotonic()
        self.saves += 1

        def work() -> None:  # in the child (fork.py's rules)
            write_snapshot(db, path, key_delay_s=delay)

        changes = db.changes  # what the child's copy of the dataset holds (rule 1)
        try:
            self._child = server.start_child(CHILD_NAME, work, self._done)
        except OSError as error:
            self._failed(f"cannot fork: {error}")
            return str(error)
        self._changes_at_fork = changes
        log.info("bgsave_started", pid=self._child.pid, changes=self.changes_since_save)
        return None

    def _done(self, result: ChildResult) -> None:
        """The child ended: the snapshot is in place, or the old one still is."""
        child, self._child = self._child, None
        assert child is not None
        self.last_bgsave_s = result.duration_s
        if result.ok:
            self._saved(self._changes_at_fork)
            log.info("bgsave_done", pid=child.pid, duration_s=round(result.duration_s, 3))
            return
        with contextlib.suppress(OSError):
            temp_path(self._path(), child.pid).unlink(missing_ok=True)
        if self.server.stopping or self._cancelling:  # killed on purpose: no failure
            log.info("bgsave_cancelled", pid=child.pid)
            return
        self._failed(result.error)

    def flushed(self) -> None:
        """After FLUSHALL (rule 7): cancel a BGSAVE, save the empty dataset."""
        if self.in_progress:
            self._cancelling = True
            try:
                self.server.kill_child()
            finally:
                self._cancelling = False
        if self.server.config.save_points:
            with contextlib.suppress(CommandError):  # save() logged it; FLUSHALL still flushed
                self.save()

    def _saved(self, changes: int) -> None:
        self._changes_at_save = changes
        self.last_save_time = time.time()
        self._last_save_at = time.monotonic()
        self.last_bgsave_ok = True  # as Redis's rdbSave: a good save clears the error
        self.refresh_write_gate()

    def _failed(self, error: str) -> None:
        self.last_bgsave_ok = False
        self.refresh_write_gate()
        log.error(
            "bgsave_failed",
            error=error,
            writes_refused=self.server.engine.writes_refused is not None,
        )

    def refresh_write_gate(self) -> None:
        """Refuse writes with MISCONF while rule 4 says so; the config may have changed."""
        config = self.server.config
        refuse = (
            not self.last_bgsave_ok
            and bool(config.save_points)
            and config.stop_writes_on_bgsave_error
        )
        self.server.engine.writes_refused = errors.MISCONF if refuse else None

    # -- the cron ---------------------------------------------------------------------

    def cron(self) -> None:
        """Start a scheduled BGSAVE, or one a save point asks for, when the slot is free."""
        if self.server.child is not None:
            return
        now = time.monotonic()
        if not self.last_bgsave_ok and now - self._last_try_at <= BGSAVE_RETRY_DELAY_S:
            return
        if self.scheduled:
            self.start()
            return
        point = due(
            self.server.config.save_points, self.changes_since_save, now - self._last_save_at
        )
        if point is not None:
            log.info("save_point_reached", seconds=point.seconds, changes=point.changes)
            self.start()

    # -- shutdown (rule 5) -----------------------------------------------------------

    def shutdown(self) -> None:
        """The last snapshot before the server exits, when save points are set.

        The server has killed its child already. A failure becomes the
        server's `failure`, which makes it exit with an error.
        """
        server, config = self.server, self.server.config
        if not config.save_points or config.snapshot_path is None or server.failure is not None:
            return
        changes = self.changes_since_save
        try:
            report = write_snapshot(server.engine.db, config.snapshot_path)
        except PersistenceError as error:
            log.critical("shutdown_save_failed", error=str(error), changes_lost=changes)
            server.failure = error
            return
        log.info("shutdown_saved", path=report.path, keys=report.keys, bytes=report.file_bytes)

    # -- INFO ---------------------------------------------------------------------------

    def info(self) -> dict[str, object]:
        """INFO persistence's rdb_* fields, in Redis's order."""
        child = self._child
        loaded = self.loaded
        return {
            "rdb_changes_since_last_save": self.changes_since_save,
            "rdb_bgsave_in_progress": int(child is not None),
            "rdb_last_save_time": int(self.last_save_time),
            "rdb_last_bgsave_status": "ok" if self.last_bgsave_ok else "err",
            "rdb_last_bgsave_time_sec": (
                -1 if self.last_bgsave_s is None else int(self.last_bgsave_s)
            ),
            "rdb_current_bgsave_time_sec": (
                -1 if child is None else int(time.time() - child.started_at)
            ),
            "rdb_saves": self.saves,
            "rdb_last_load_keys_expired": 0 if loaded is None else loaded.expired_keys,
            "rdb_last_load_keys_loaded": 0 if loaded is None else loaded.keys - loaded.expired_keys,
        }


# -- the commands ----------------------------------------------------------------------


def _snapshots(session: Session) -> Snapshots:
    return connection_of(session).server.snapshots


def save(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """SAVE"""
    return _snapshots(session).save()


def bgsave(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """BGSAVE [SCHEDULE]"""
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() != b"schedule"):
        raise CommandError(errors.SYNTAX)
    return _snapshots(session).bgsave(engine, schedule=len(argv) == 2)


def flushall(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """FLUSHALL [ASYNC | SYNC]"""
    reply = keys.flushall(engine.db, argv)
    _snapshots(session).flushed()
    return reply


def lastsave(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """LASTSAVE"""
    return int(_snapshots(session).last_save_time)


COMMANDS = (
    command("save", 1, "admin noscript no-multi", (0, 0, 0), save, takes_session=True),
    command("bgsave", -1, "admin noscript", (0, 0, 0), bgsave, takes_session=True),
    command("lastsave", 1, "loading stale fast", (0, 0, 0), lastsave, takes_session=True),
    # The engine's FLUSHALL, followed by rule 7.
    command("flushall", -1, "write", (0, 0, 0), flushall, takes_session=True),
)
