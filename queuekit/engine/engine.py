"""The engine: one dispatcher over one keyspace, synchronous and single-threaded.

`Engine.execute(session, argv)` runs one command and returns its reply, a
`Blocked` outcome, or raises `CommandError` for an error reply. It never
awaits and never touches a socket; the caller (in-process client, server)
guarantees that only one thread is inside the engine at a time.

What the dispatcher checks generically, in Redis's order, so handlers don't:
unknown command, arity, MULTI queueing, maxmemory (evicting first where the
policy allows). After each top-level command it serves blocked clients whose
keys became ready, first come first served, as Redis's
handleClientsBlockedOnKeys does; inside MULTI/EXEC that happens once, after
EXEC, so waiters never see a transaction half done.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence

from queuekit.engine import errors
from queuekit.engine.clock import Clock, SystemClock
from queuekit.engine.command import Command
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import QUEUED, Blocked, Reply, Wake
from queuekit.engine.session import Session
from queuekit.engine.table import command_table

EVICTION_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
)


class Engine:
    """A Redis-exact in-memory store. Not thread-safe: callers serialize."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        maxmemory: int = 0,
        maxmemory_policy: str = "noeviction",
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.db = Database(self.clock)
        self.commands: dict[bytes, Command] = command_table()
        self.commands_processed = 0
        self.maxmemory = 0
        self.maxmemory_policy = "noeviction"
        self.configure_memory(maxmemory, maxmemory_policy)

    def configure_memory(self, maxmemory: int, policy: str) -> None:
        """Set the memory limit in bytes (0: none) and the eviction policy."""
        if policy not in EVICTION_POLICIES:
            raise ValueError(
                f"maxmemory policy {policy!r} is not one of {', '.join(EVICTION_POLICIES)}"
            )
        if maxmemory < 0:
            raise ValueError(f"maxmemory must be >= 0 bytes, got {maxmemory}")
        self.maxmemory = maxmemory
        self.maxmemory_policy = policy
        tracks_access = policy.endswith("-lru")
        if tracks_access and self.db.access is None:
            self.db.access = {}
        elif not tracks_access:
            self.db.access = None

    # -- dispatch ----------------------------------------------------------

    def execute(self, session: Session, argv: Sequence[bytes]) -> Reply:
        """Run one command for `session`; see the module docstring."""
        cmd = self.commands.get(argv[0])
        if cmd is None:
            cmd = self._resolve(session, argv)
        arity = cmd.arity
        if (len(argv) != arity) if arity > 0 else (len(argv) < -arity):
            self._reject(session, errors.wrong_arity(argv[0]))
        if session.multi is not None and cmd.queues_in_multi:
            return self._queue(session, cmd, argv)
        if cmd.deny_oom and self.maxmemory:
            self._make_room(session)
        self.commands_processed += 1
        if cmd.takes_session:
            reply = cmd.handler(self, session, argv)
        else:
            reply = cmd.handler(self.db, argv)
        if self.db.ready:
            self.serve_ready()
        return reply

    def call(self, cmd: Command, session: Session, argv: Sequence[bytes]) -> Reply:
        """Run a checked command with no queueing and no serving (EXEC uses this)."""
        self.commands_processed += 1
        if cmd.takes_session:
            return cmd.handler(self, session, argv)
        return cmd.handler(self.db, argv)

    def _resolve(self, session: Session, argv: Sequence[bytes]) -> Command:
        cmd = self.commands.get(argv[0].lower())
        if cmd is None:
            self._reject(session, errors.unknown_command(argv))
        return cmd  # type: ignore[return-value]

    def _reject(self, session: Session, message: str) -> None:
        """Refuse a command; inside MULTI the refusal also dooms the EXEC."""
        if session.multi is not None:
            session.multi_failed = True
        raise CommandError(message)

    def _queue(self, session: Session, cmd: Command, argv: Sequence[bytes]) -> Reply:
        if cmd.deny_oom and self.maxmemory:
            self._make_room(session)
        assert session.multi is not None
        session.multi.append(argv)
        return QUEUED

    def _make_room(self, session: Session) -> None:
        """Evict under the policy until under maxmemory, else refuse with OOM."""
        db = self.db
        while db.used_memory > self.maxmemory:
            if self.maxmemory_policy == "noeviction" or not db.evict_one(self.maxmemory_policy):
                self._reject(session, errors.OOM)

    # -- blocking ----------------------------------------------------------

    def block(self, blocked: Blocked, wake: Wake) -> None:
        """Park a `Blocked` outcome: `wake(reply)` is called when it is served."""
        blocked.wake = wake
        waiting = self.db.waiting
        for key in blocked.keys:
            queue = waiting.get(key)
            if queue is None:
                waiting[key] = deque((blocked,))
            elif blocked not in queue:
                queue.append(blocked)

    def unblock(self, blocked: Blocked) -> bool:
        """Withdraw a parked command (timeout, disconnect); False if already served."""
        if blocked.wake is None:
            return False
        blocked.wake = None
        waiting = self.db.waiting
        for key in blocked.keys:
            queue = waiting.get(key)
            if queue is not None:
                with contextlib.suppress(ValueError):
                    queue.remove(blocked)
                if not queue:
                    del waiting[key]
        return True

    def serve_ready(self) -> None:
        """Serve blocked commands on keys that writes made ready.

        Keys are taken in the order they became ready; on each key, waiters in
        the order they blocked. A waiter's command is run again as a plain
        call: if it still finds nothing (say, its key was emptied again) it
        stays parked. Serving can make more keys ready (BLMOVE pushes), so
        the loop runs until no key is left.
        """
        db = self.db
        while db.ready:
            key = next(iter(db.ready))
            del db.ready[key]
            queue = db.waiting.get(key)
            while queue:
                blocked = queue[0]
                reply = self._retry(blocked)
                if type(reply) is Blocked:
                    break
                wake = blocked.wake
                self.unblock(blocked)
                assert wake is not None
                wake(reply)
                queue = db.waiting.get(key)

    def _retry(self, blocked: Blocked) -> Reply:
        argv = blocked.argv
        cmd = self.commands.get(argv[0]) or self.commands[argv[0].lower()]
        try:
            return self.call(cmd, _SERVING, argv)
        except CommandError as error:
            return error


# Blocked data commands never look at their session; this one stands in.
_SERVING = Session()
