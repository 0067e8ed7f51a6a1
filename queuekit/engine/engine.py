"""The engine: one dispatcher over one keyspace, synchronous and single-threaded.

`Engine.execute(session, argv)` runs one command and returns its reply, a
`Blocked` outcome, or raises `CommandError` for an error reply. It never
awaits and never touches a socket; the caller (in-process client, server)
guarantees that only one thread is inside the engine at a time.

What the dispatcher checks generically, in Redis's order, so handlers don't:
unknown command, arity, commands refused inside MULTI, maxmemory, MULTI
queueing. Over maxmemory it evicts before every command where the policy
allows; if still over, it refuses a denyoom command, anything but EXEC and
DISCARD inside MULTI, and an EXEC that queued a denyoom command (which ends
the transaction, as Redis's execCommandAbort). While `writes_refused` is set
(the server's MISCONF after a failed background save) it refuses writes,
PING and an EXEC that queued a write, before queueing, as Redis does (when
both apply, Redis reports the OOM first). After each top-level command,
even one that failed, it serves blocked clients whose
keys became ready, first come first served, as Redis's
handleClientsBlockedOnKeys does; inside MULTI/EXEC that happens once, after
EXEC, so waiters never see a transaction half done.

Propagation (the AOF's feed): when `propagator` is set, every write command
that returned (top level, inside EXEC, or a parked command being served) is
reported to it with its reply, before any waiter it woke is served, so the
log keeps the order in which things happened. EXEC brackets its body with
`begin_exec`/`end_exec`. With no propagator the cost is one attribute test.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence
from typing import NoReturn, Protocol

from queuekit.engine import errors
from queuekit.engine.clock import Clock, SystemClock
from queuekit.engine.command import NO_MULTI, Command
from queuekit.engine.commands.transactions import unwatch_all
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import QUEUED, Blocked, Reply, Wake
from queuekit.engine.session import Session
from queuekit.engine.table import ALL_COMMANDS, command_table
from queuekit.engine.zset import ZSet

EVICTION_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
)


class Propagator(Protocol):
    """What the engine tells persistence (queuekit.persistence.propagate)."""

    def executed(self, cmd: Command, argv: Sequence[bytes], reply: Reply) -> None:
        """A write command returned `reply` (an error reply raises and is not reported)."""
        ...

    def begin_exec(self) -> None:
        """EXEC is about to run its queued commands."""
        ...

    def end_exec(self) -> None:
        """EXEC has run its queued commands."""
        ...


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
        self.commands: dict[bytes, Command] = {}
        # Calls per command by Command.number (Redis's commandstats), never
        # reset: the server's metrics export them as counters. INFO's total
        # counts from the last CONFIG RESETSTAT (`reset_stats`).
        self.calls: list[int] = []
        self._calls_before_reset = 0
        self.register(ALL_COMMANDS)
        # Told about every executed write when set (see the module docstring).
        self.propagator: Propagator | None = None
        # True while EXEC runs its queued commands (Redis's server.in_exec): a
        # command that forks a persistence child must not fork mid-transaction.
        self.in_exec = False
        # When set, the error reply every write gets, and PING, and an EXEC that
        # queued a write: the server sets Redis's MISCONF here while its last
        # background save has failed (stop-writes-on-bgsave-error).
        self.writes_refused: str | None = None
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

    def register(self, commands: Sequence[Command]) -> None:
        """Add commands to this engine's table, replacing same-named ones.

        The server adds its connection-level commands (AUTH, CLIENT, INFO with
        server sections...) this way, so they go through the same checks.
        """
        self.commands.update(command_table(tuple(commands)))
        rows = max((cmd.number for cmd in commands), default=-1) + 1
        self.calls.extend([0] * (rows - len(self.calls)))

    @property
    def command_calls(self) -> dict[str, int]:
        """Calls by command name, of the commands called at least once."""
        calls = self.calls
        return {cmd.name: calls[cmd.number] for cmd in self.commands.values() if calls[cmd.number]}

    @property
    def commands_processed(self) -> int:
        """Commands run since start-up or the last `reset_stats` (Redis's stat_numcommands)."""
        return sum(self.calls) - self._calls_before_reset

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT: count processed commands from zero again."""
        self._calls_before_reset = sum(self.calls)

    # -- dispatch ----------------------------------------------------------

    def execute(self, session: Session, argv: Sequence[bytes]) -> Reply:
        """Run one command for `session`; see the module docstring."""
        try:
            cmd = self.commands[argv[0]]
        except KeyError:  # another casing, or no such command
            cmd = self._resolve(session, argv)
        arity = cmd.arity
        if (len(argv) != arity) if arity > 0 else (len(argv) < -arity):
            self._reject(session, errors.wrong_arity(argv[0]), cmd)
        if self.writes_refused is not None:
            self._refuse_writes(session, cmd, self.writes_refused)
        if session.multi is not None and cmd.queues_in_multi:
            return self._queue(session, cmd, argv)
        if self.maxmemory and self.db.used_memory > self.maxmemory and self._out_of_memory():
            self._refuse_out_of_memory(session, cmd)
        self.calls[cmd.number] += 1
        try:
            if cmd.takes_session:
                reply = cmd.handler(self, session, argv)
            else:
                reply = cmd.handler(self.db, argv)
            if self.propagator is not None and cmd.is_write:
                self.propagator.executed(cmd, argv, reply)
        finally:
            # Like Redis, serve waiters after every command, even one that
            # failed after a write.
            if self.db.ready:
                self.serve_ready()
        return reply

    def call(self, cmd: Command, session: Session, argv: Sequence[bytes]) -> Reply:
        """Run a checked command with no queueing and no serving (EXEC uses this)."""
        self.calls[cmd.number] += 1
        if cmd.takes_session:
            reply = cmd.handler(self, session, argv)
        else:
            reply = cmd.handler(self.db, argv)
        if self.propagator is not None and cmd.is_write:
            self.propagator.executed(cmd, argv, reply)
        return reply

    def _resolve(self, session: Session, argv: Sequence[bytes]) -> Command:
        cmd = self.commands.get(argv[0].lower())
        if cmd is None:
            self._reject(session, errors.unknown_command(argv))
        return cmd

    def _reject(self, session: Session, message: str, cmd: Command | None = None) -> NoReturn:
        """Refuse a command; inside MULTI the refusal also dooms the EXEC.

        A refused EXEC itself ends the transaction at once, as Redis's
        execCommandAbort does; a refusal Redis formats (arity) loses its "ERR ".
        """
        if session.multi is not None:
            if cmd is not None and cmd.name == "exec":
                session.multi = None
                session.multi_failed = False
                unwatch_all(self, session)
                raise CommandError(errors.exec_abort_because(message.removeprefix("ERR ")))
            session.multi_failed = True
        raise CommandError(message)

    def _refuse_writes(self, session: Session, cmd: Command, message: str) -> None:
        """Refuse a write, PING, or an EXEC that queued a write (Redis's processCommand
        under a disk error); inside MULTI the refusal dooms the EXEC, as ever."""
        if cmd.name == "exec":
            queued = session.multi or []
            refused = any(self._lookup(argv).is_write for argv in queued)
        else:
            refused = cmd.is_write or cmd.name == "ping"
        if refused:
            self._reject(session, message, cmd)

    def _queue(self, session: Session, cmd: Command, argv: Sequence[bytes]) -> Reply:
        if NO_MULTI in cmd.flags:
            self._reject(session, "ERR Command not allowed inside a transaction")
        if self.maxmemory and self.db.used_memory > self.maxmemory and self._out_of_memory():
            # Redis refuses to queue anything over maxmemory, reads included.
            self._reject(session, errors.OOM)
        assert session.multi is not None
        session.multi.append(argv)
        return QUEUED

    def _out_of_memory(self) -> bool:
        """Redis's performEvictions, run before every command: evict under the
        policy until under maxmemory; True if that is impossible."""
        db = self.db
        policy = self.maxmemory_policy
        while db.used_memory > self.maxmemory:
            if policy == "noeviction" or not db.evict_one(policy):
                return True
        return False

    def _refuse_out_of_memory(self, session: Session, cmd: Command) -> None:
        """Over maxmemory: refuse what may grow memory (Redis's processCommand).

        That is a denyoom command; inside MULTI anything but EXEC and DISCARD;
        and EXEC itself when it queued a denyoom command.
        """
        if cmd.deny_oom:
            self._reject(session, errors.OOM, cmd)
        if session.multi is None or cmd.name == "discard":
            return
        if cmd.name != "exec" or any(self._lookup(argv).deny_oom for argv in session.multi):
            self._reject(session, errors.OOM, cmd)

    def _lookup(self, argv: Sequence[bytes]) -> Command:
        """The table row of a command already checked (queued or parked)."""
        return self.commands.get(argv[0]) or self.commands[argv[0].lower()]

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
        call narrowed to that key: Redis serves a multi-key BLPOP from the key
        that became ready, not from the first of its keys with data. If it
        still finds nothing (say, its key was emptied again) it stays parked.
        A waiter whose key now holds the other blockable type (a BLPOP on a key
        that became a sorted set) stays parked too, and the next is tried.
        Serving can make more keys ready (BLMOVE pushes), so the loop runs
        until no key is left.
        """
        db = self.db
        while db.ready:
            key = next(iter(db.ready))
            del db.ready[key]
            queue = db.waiting.get(key)
            if queue:
                self._serve_key(key, queue)

    def _serve_key(self, key: bytes, queue: deque[Blocked]) -> None:
        index = 0
        while index < len(queue):
            value = self.db.lookup(key)
            if value is None:
                return
            blocked = queue[index]
            cmd = self._lookup(blocked.argv)
            wanted = _WAITS_FOR.get(cmd.name)
            if wanted is not None and type(value) is not wanted:
                index += 1
                continue
            reply = self._retry(cmd, blocked, key)
            if type(reply) is Blocked:
                return
            wake = blocked.wake
            self.unblock(blocked)  # takes it out of `queue`: `index` is the next one
            assert wake is not None
            wake(reply)

    def _retry(self, cmd: Command, blocked: Blocked, key: bytes) -> Reply:
        argv = _narrowed(cmd, blocked.argv, key)
        try:
            return self.call(cmd, _SERVING, argv)
        except CommandError as error:
            return error


# The value type each blocking command pops from (Redis's client btype): a
# waiter is served only by a key of that type.
_WAITS_FOR: dict[str, type] = {
    "blpop": deque,
    "brpop": deque,
    "brpoplpush": deque,
    "blmove": deque,
    "blmpop": deque,
    "bzpopmin": ZSet,
    "bzpopmax": ZSet,
    "bzmpop": ZSet,
}


def _narrowed(cmd: Command, argv: Sequence[bytes], key: bytes) -> Sequence[bytes]:
    """A parked command rewritten to pop only from `key`, the one being served."""
    if cmd.first_key == 1 and cmd.last_key == -2:  # BLPOP key [key ...] timeout
        return argv if len(argv) == 3 else (argv[0], key, argv[-1])
    if cmd.name == "blmpop" or cmd.name == "bzmpop":  # timeout numkeys key [key ...] where ...
        numkeys = int(argv[2])  # validated when the command first ran
        if numkeys > 1:
            return (argv[0], argv[1], b"1", key, *argv[3 + numkeys :])
    return argv


# Blocked data commands never look at their session; this one stands in.
_SERVING = Session()
