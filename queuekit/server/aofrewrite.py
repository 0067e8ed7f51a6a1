"""BGREWRITEAOF and the automatic rewrite: compacting the AOF in a forked child.

    rewriter = AofRewriter(server)   the server owns one
    BGREWRITEAOF                     start a rewrite now, schedule it, or refuse
    rewriter.cron()                  a scheduled or automatic rewrite, when the child slot is free
    rewriter.done(result)            the child ended: install its base, or keep the old files
    rewriter.info()                  INFO persistence's aof_rewrite* fields

Rules (Redis's bgrewriteaofCommand, rewriteAppendOnlyFileBackground and serverCron):
1. One persistence child at a time (`server.child`). BGREWRITEAOF while
   a rewrite runs is refused; while another child (a BGSAVE) runs, or
   inside EXEC, it is scheduled and starts from the cron once the slot is
   free: a fork in the middle of a transaction would give the child half
   of it.
2. Starting: the writes so far go into the current incr (the release
   point), the incr is switched and the manifest persisted
   (AofDirectory.begin_rewrite), then the child forks and writes the new
   base from its copy-on-write view of the dataset. Writes from then on
   land in the new incr, which the new base does not cover.
3. The child's end, from the server's cron: success installs the new base
   (AofDirectory.finish_rewrite); failure (an error, a signal, a failed
   rename) removes the temp file and keeps every listed file, so the AOF
   still loads everything. Either way the status is aof_last_bgrewrite_status.
4. Automatic: with appendonly on and the slot free, a rewrite starts once
   the AOF is larger than auto-aof-rewrite-min-size and has grown by
   auto-aof-rewrite-percentage over its size after the last rewrite (at
   start: the base's size); a percentage of 0 turns it off.
5. After REWRITE_FAILURES_BEFORE_DELAY failures in a row, scheduled and
   automatic rewrites wait 1, 2, 4... up to 60 minutes between attempts,
   so a full disk does not fill the directory with empty incr files
   (aofRewriteLimited). BGREWRITEAOF by hand still runs at once.
6. With appendonly off and a data directory, BGREWRITEAOF still writes a
   base (Redis 7 does); without a data directory there is nowhere to.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import structlog

from queuekit.engine.command import command
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import Reply, Status
from queuekit.errors import PersistenceError
from queuekit.persistence.aofdir import AofDirectory
from queuekit.persistence.rewrite import write_base_file
from queuekit.server.commands import connection_of

if TYPE_CHECKING:
    from queuekit.engine.engine import Engine
    from queuekit.engine.session import Session
    from queuekit.persistence.fork import ChildResult, ForkedChild
    from queuekit.server.app import Server

log = structlog.get_logger(__name__)

CHILD_NAME = "bgrewriteaof"
ALREADY_RUNNING = "ERR Background append only file rewriting already in progress"
STARTED = Status(b"Background append only file rewriting started")
SCHEDULED = Status(b"Background append only file rewriting scheduled")
CANNOT_START = (
    "ERR Can't execute an AOF background rewriting. "
    "Please check the server logs for more information."
)
NO_DATA_DIR = (
    "ERR BGREWRITEAOF needs a data directory to write to: "
    "start the server with --data-dir DIR (QUEUEKIT_DATA_DIR)"
)
# Redis's AOF_REWRITE_LIMITE_THRESHOLD and AOF_REWRITE_LIMITE_MAX_MINUTES (rule 5).
REWRITE_FAILURES_BEFORE_DELAY = 3
MAX_DELAY_S = 60 * 60.0


class AofRewriter:
    """The rewrite state of one server; see the module rules."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.scheduled = False
        self.rewrites = 0  # started (Redis's aof_rewrites)
        self.failures_in_a_row = 0
        self.last_ok = True
        self.last_duration_s: float | None = None
        self._child: ForkedChild | None = None
        self._directory: AofDirectory | None = None
        self._delay_s = 0.0  # rule 5: the current wait between limited attempts
        self._not_before = 0.0  # monotonic seconds

    @property
    def in_progress(self) -> bool:
        return self._child is not None

    # -- starting --------------------------------------------------------------------

    def request(self, engine: Engine) -> Reply:
        """BGREWRITEAOF's decision (rules 1, 6)."""
        if self.in_progress:
            raise CommandError(ALREADY_RUNNING)
        if self.server.config.data_dir is None:
            raise CommandError(NO_DATA_DIR)
        if self.server.child is not None or engine.in_exec:
            self.scheduled = True
            self.failures_in_a_row = 0  # by hand: no waiting (rule 5)
            return SCHEDULED
        if not self.start():
            raise CommandError(CANNOT_START)
        return STARTED

    def start(self) -> bool:
        """Switch the incr, fork the child (rule 2); False (logged) if it could not start.

        A scheduled rewrite that could not start stays scheduled: the cron
        tries again, within rule 5's limits, as Redis's does.
        """
        server = self.server
        try:
            directory = self._directory_of(server)
            if not server.release():  # rule 2: every write so far into the incr
                raise PersistenceError("the append only file could not be written")
            directory.begin_rewrite()
            self.rewrites += 1
            child = server.start_child(CHILD_NAME, self._work(directory), self.done)
        except (PersistenceError, OSError) as error:
            self._failed(f"cannot start: {error}")
            return False
        self._child, self._directory = child, directory
        self.scheduled = False
        log.info("aof_rewrite_started", pid=child.pid)
        return True

    def _directory_of(self, server: Server) -> AofDirectory:
        """The server's open AOF; with appendonly off, the data directory's (rule 6)."""
        if server.aof_dir is not None:
            return server.aof_dir
        assert server.config.data_dir is not None
        return AofDirectory(server.config.data_dir)

    def _work(self, directory: AofDirectory) -> Callable[[], None]:
        db = self.server.engine.db
        delay_s = self.server.config.key_save_delay

        def rewrite() -> None:  # in the child (fork's rules)
            write_base_file(directory.temp_path(os.getpid()), db, key_delay_s=delay_s)

        return rewrite

    # -- finishing -------------------------------------------------------------------

    def done(self, result: ChildResult) -> None:
        """The child ended (rule 3): install its base or keep the old files."""
        child, directory = self._child, self._directory
        assert child is not None and directory is not None
        self._child = self._directory = None
        self.last_duration_s = result.duration_s
        temp = directory.temp_path(child.pid)
        if not result.ok:
            directory.abort_rewrite(temp)
            self._failed(result.error)
            return
        began = time.perf_counter()
        try:
            base = directory.finish_rewrite(temp)
        except PersistenceError as error:
            directory.abort_rewrite(temp)  # if the rename is what failed
            self._failed(str(error))
            return
        self.last_ok = True
        self.failures_in_a_row = 0
        log.info(
            "aof_rewrite_finished",
            base=base.name,
            base_bytes=directory.base_size,
            aof_bytes=directory.current_size,
            duration_s=round(result.duration_s, 3),
            # What the event loop spent installing it (Redis logs its handler's time too).
            install_ms=round((time.perf_counter() - began) * 1000, 1),
        )

    def _failed(self, error: str) -> None:
        self.last_ok = False
        self.failures_in_a_row += 1
        log.error("aof_rewrite_failed", error=error, failures_in_a_row=self.failures_in_a_row)

    # -- the cron ------------------------------------------------------------------------

    def cron(self) -> None:
        """Start a scheduled or automatic rewrite when the slot is free (rules 1, 4, 5)."""
        if self.server.child is not None:
            return
        if self.scheduled:
            if not self._limited():
                self.start()
            return
        growth = self._growth_percent()
        if growth is not None and not self._limited():
            log.info("aof_rewrite_automatic", growth_percent=growth)
            self.start()

    def _growth_percent(self) -> int | None:
        """The AOF's growth over its size after the last rewrite, if a rewrite is due."""
        directory, config = self.server.aof_dir, self.server.config
        if directory is None:
            return None
        return directory.growth_due(
            config.auto_aof_rewrite_percentage, config.auto_aof_rewrite_min_size
        )

    def _limited(self) -> bool:
        """Rule 5: whether this attempt must wait."""
        if self.failures_in_a_row < REWRITE_FAILURES_BEFORE_DELAY:
            self._delay_s = self._not_before = 0.0
            return False
        now = time.monotonic()
        if self._not_before:
            if now < self._not_before:
                return True
            self._not_before = 0.0
            return False
        self._delay_s = min(self._delay_s * 2 or 60.0, MAX_DELAY_S)
        self._not_before = now + self._delay_s
        log.warning(
            "aof_rewrite_delayed", failures_in_a_row=self.failures_in_a_row, delay_s=self._delay_s
        )
        return True

    # -- INFO ------------------------------------------------------------------------------

    def info(self) -> dict[str, object]:
        """Redis's aof_rewrite* fields, in Redis's order."""
        child = self._child
        return {
            "aof_rewrite_in_progress": int(child is not None),
            "aof_rewrite_scheduled": int(self.scheduled),
            "aof_last_rewrite_time_sec": (
                -1 if self.last_duration_s is None else int(self.last_duration_s)
            ),
            "aof_current_rewrite_time_sec": (
                -1 if child is None else int(time.time() - child.started_at)
            ),
            "aof_last_bgrewrite_status": "ok" if self.last_ok else "err",
            "aof_rewrites": self.rewrites,
            "aof_rewrites_consecutive_failures": self.failures_in_a_row,
        }


def bgrewriteaof(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """BGREWRITEAOF"""
    return connection_of(session).server.rewriter.request(engine)


COMMANDS = (
    command("bgrewriteaof", 1, "admin noscript", (0, 0, 0), bgrewriteaof, takes_session=True),
)
