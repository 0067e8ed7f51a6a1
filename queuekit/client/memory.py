"""memory://: the engine in this process, shared safely by threads and tasks.

A `MemoryStore` is one engine behind one lock: whichever thread or task holds
the lock runs a whole command, or a whole pipeline or MULTI/EXEC, so each is
atomic. A background thread runs the active expiry cycle ten times a second
(Redis's hz 10) so that keys nobody reads are still reclaimed.

Blocking pops wait outside the lock: the engine parks the command and calls
the waiter's `wake` from whichever thread's write served it, which sets a
threading.Event (sync) or resolves a future through the loop's thread-safe
door (asyncio). Rules:

1. The reply is kept on the waiter, not in the Event or future. A waiter that
   times out decides, under the lock, between "served" (it returns the reply)
   and "still parked" (it withdraws and returns the timeout reply), so an
   element popped for it at the same moment is never dropped.
2. A wait that ends by an exception (an asyncio task cancelled while parked,
   KeyboardInterrupt in a thread) withdraws the waiter under the lock, so
   nothing stays parked for a caller who is gone. If the element had already
   been popped for it, that element is lost: delivery is at most once, exactly
   as when a Redis client disconnects after the server served its BRPOP.
3. The same holds for an asyncio waiter whose event loop was closed without
   cancelling it: the write that serves it still succeeds, and the element is
   lost with the loop.
4. A client's session is shared by every thread and task using the client, so
   MULTI and WATCH through it are refused (UsageError) and undone under the
   same lock hold, before anyone else's command can land in the transaction.
   Pipelines own a session each; a pipeline is for one thread or task.

Stores are named: `memory://` is the process's default store, `memory://jobs`
another one; every client of one name shares one dataset.

Persistence: `memory://jobs?dir=DIR[&appendfsync=always|everysec|no]` (or
`MemoryStore(directory=DIR, appendfsync=...)`) loads DIR at open and appends
every write to the server's append-only file in DIR, so a single-process app
survives restarts (queuekit.persistence.embedded has the file's rules).

5. Every command, pipeline, transaction, `store.run`, the cron's expiry and
   a waiter's pop served by a write run under the store's lock, so letting
   go of that lock is the one release point: a persistent store's lock (a
   PersistingLock) writes the frames of what ran first (fsynced under
   `always`), so a write is on disk before its call returns. A store
   without a directory keeps a bare threading.Lock and pays nothing.
6. The cron thread also writes the expiry's DELs and starts everysec's fsync
   (at most one a second). `close()`, and the interpreter's exit for stores
   still open, write and fsync what is left and let go of the directory; a
   closed persistent store refuses commands (open it again to go on), where
   a plain one stays readable.
7. One NAME is one store: opening it again with another directory or fsync
   policy is a UsageError naming both. One directory has one writer: a
   second store on it, in any process, is refused with a PersistenceError
   naming the holder. A child forked from the owner refuses commands on the
   parent's persistent stores rather than interleave writes with it.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from queuekit.client.commands import Commands
from queuekit.client.encoding import encode_command
from queuekit.client.results import pipeline_results, transaction_replies
from queuekit.engine.clock import Clock
from queuekit.engine.commands.transactions import unwatch_all
from queuekit.engine.engine import Engine
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Blocked, Reply
from queuekit.engine.session import Session
from queuekit.errors import PersistenceError, UsageError, response_error
from queuekit.persistence.embedded import DataDirectory, PersistingLock

CRON_INTERVAL_S = 0.1  # Redis's default hz is 10
CRON_EXPIRE_BUDGET_S = 0.025  # a quarter of each tick, like Redis's slow cycle
DEFAULT_FSYNC = "everysec"  # Redis's appendfsync default


class MemoryStore:
    """One engine, its lock and its cron thread; with a `directory`, persisted there."""

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        clock: Clock | None = None,
        directory: str | os.PathLike[str] | None = None,
        appendfsync: str = DEFAULT_FSYNC,
    ) -> None:
        # What close() (and so __del__) reads comes first: a refused open still ends there.
        self._stop = threading.Event()
        self.lock: threading.Lock | PersistingLock = threading.Lock()
        self.directory: DataDirectory | None = None
        self.name: str | None = None  # set by open_store, for messages
        self.engine = engine or Engine(clock)
        if directory is not None:
            self.directory = DataDirectory.open(directory, self.engine, appendfsync)
            self.lock = PersistingLock(self.directory)
        elif appendfsync != DEFAULT_FSYNC:
            raise ValueError(f"appendfsync={appendfsync} needs a directory to write to")
        self._cron = threading.Thread(
            target=_cron, args=(weakref.ref(self), self._stop), name="queuekit-expiry", daemon=True
        )
        self._cron.start()

    def close(self) -> None:
        """Stop the cron thread. The data of a plain store stays readable; a
        persistent one writes and fsyncs what is left, lets go of its
        directory and refuses commands from then on (rule 6)."""
        self._stop.set()
        lock = self.lock
        if isinstance(lock, PersistingLock) and not lock.directory.closed:
            lock.close()
            _forget(self)

    def __del__(self) -> None:
        self.close()

    def describe(self) -> str:
        """The store as a memory:// URL, for messages."""
        directory = self.directory
        if directory is None:
            return _url(self.name, None, DEFAULT_FSYNC)
        return _url(self.name, directory.path, directory.fsync)

    def run(self, session: Session, argv: Sequence[bytes]) -> Reply:
        """Execute under the lock; error replies become ResponseError.

        A blocking command that finds nothing comes back as `Blocked`, not
        parked: callers that want to wait use a client.
        """
        with self.lock:
            try:
                return self.engine.execute(session, argv)
            except CommandError as error:
                raise response_error(error.message) from None

    def _tick(self) -> None:
        """One cron cycle: active expiry, then (persistent) its DELs and everysec's fsync."""
        with self.lock:
            self.engine.db.active_expire_cycle(CRON_EXPIRE_BUDGET_S)
            if self.directory is not None:
                self.directory.cron()


def _cron(store_ref: weakref.ref[MemoryStore], stop: threading.Event) -> None:
    while not stop.wait(CRON_INTERVAL_S):
        store = store_ref()
        if store is None:
            return
        try:
            store._tick()
        except PersistenceError:
            return  # closed or failed: the store's callers hear of it
        del store


_stores: dict[str, MemoryStore] = {}
# Reentrant: a persistent store garbage-collected while this thread holds it
# closes itself in __del__, and forgets its name under it.
_stores_lock = threading.RLock()


def open_store(
    name: str = "",
    *,
    directory: str | os.PathLike[str] | None = None,
    appendfsync: str = DEFAULT_FSYNC,
) -> MemoryStore:
    """The process-wide store called `name` ("" is the default), made on first use;
    persisted to `directory` when one is given (rule 7)."""
    with _stores_lock:
        store = _stores.get(name)
        if store is None:
            store = MemoryStore(directory=directory, appendfsync=appendfsync)
            store.name = name
            _stores[name] = store
        elif not _opened_as(store, directory, appendfsync):
            path = None if directory is None else Path(directory).resolve()
            asked = _url(name, path, appendfsync)
            raise UsageError(
                f"{store.describe()} is open in this process, so {asked} cannot be: "
                "one name is one store (close it first, or use another name)"
            )
        return store


def _opened_as(
    store: MemoryStore, directory: str | os.PathLike[str] | None, appendfsync: str
) -> bool:
    current = store.directory
    if current is None or directory is None:
        return current is None and directory is None
    return current.path == Path(directory).resolve() and current.fsync == appendfsync


def _url(name: str | None, directory: Path | None, appendfsync: str) -> str:
    """A store as its memory:// URL, for messages."""
    url = f"memory://{name or ''}"
    if directory:
        url += f"?dir={directory}&appendfsync={appendfsync}"
    return url


def _forget(store: MemoryStore) -> None:
    """A closed persistent store is no longer open under its name."""
    with _stores_lock:
        if store.name is not None and _stores.get(store.name) is store:
            del _stores[store.name]


# -- running one command -----------------------------------------------------


def _execute_locked(
    store: MemoryStore, session: Session, argv: Sequence[bytes], shared: bool
) -> Reply:
    """One command with the store's lock held; error replies become ResponseError.

    The hot path of every client call: kept to the one engine call and two
    attribute checks.
    """
    try:
        reply = store.engine.execute(session, argv)
    except CommandError as error:
        raise response_error(error.message) from None
    if shared and (session.multi is not None or session.watched):
        _refuse_session_state(store.engine, session, argv)
    return reply


def _refuse_session_state(engine: Engine, session: Session, argv: Sequence[bytes]) -> None:
    """Rule 4: undo MULTI or WATCH on a shared session, then refuse it."""
    session.multi = None
    session.multi_failed = False
    unwatch_all(engine, session)
    name = argv[0].decode("utf-8", "replace").upper()
    raise UsageError(
        f"{name} through a shared client would leak into every other caller: "
        "use client.pipeline(transaction=True), and pipeline.watch(...) to WATCH"
    )


def _result(reply: Reply) -> Any:
    """A top-level reply as the client hands it out."""
    if reply is NULL_ARRAY:
        return None
    if isinstance(reply, CommandError):
        raise response_error(reply.message)
    return reply


def _timeout_s(engine: Engine, blocked: Blocked) -> float | None:
    """Seconds left until the parked command's deadline (None: forever)."""
    if blocked.deadline_ms is None:
        return None
    return max(0.0, (blocked.deadline_ms - engine.clock.now_ms()) / 1000)


def _settle(store: MemoryStore, blocked: Blocked, waiter: _Waiter | _AsyncWaiter) -> bool:
    """Rules 1 and 2: under the lock, withdraw the waiter unless it was served.

    True if it was withdrawn (the caller answers the timeout reply).
    """
    with store.lock:
        return not waiter.served and store.engine.unblock(blocked)


class _Waiter:
    """Where a parked blocking command's reply lands (threads)."""

    __slots__ = ("event", "reply", "served")

    def __init__(self) -> None:
        self.reply: Reply = None
        self.served = False
        self.event = threading.Event()

    def wake(self, reply: Reply) -> None:
        self.reply = reply
        self.served = True
        self.event.set()


def _run(store: MemoryStore, session: Session, argv: Sequence[bytes], shared: bool) -> Any:
    """Run one command, waiting outside the lock if it blocks."""
    with store.lock:
        reply = _execute_locked(store, session, argv, shared)
        if reply.__class__ is Blocked:
            waiter = _Waiter()
            store.engine.block(reply, waiter.wake)
    if reply.__class__ is Blocked:
        return _wait(store, reply, waiter)
    return None if reply is NULL_ARRAY else reply


def _wait(store: MemoryStore, blocked: Blocked, waiter: _Waiter) -> Any:
    try:
        waiter.event.wait(_timeout_s(store.engine, blocked))
    finally:
        withdrawn = _settle(store, blocked, waiter)
    return _result(blocked.timeout_reply if withdrawn else waiter.reply)


class _AsyncWaiter:
    """Where a parked blocking command's reply lands (asyncio)."""

    __slots__ = ("future", "loop", "reply", "served", "thread")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.reply: Reply = None
        self.served = False
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.thread = threading.get_ident()

    def wake(self, reply: Reply) -> None:
        """Called under the store's lock by the write that served it, any thread."""
        self.reply = reply
        self.served = True
        try:
            if threading.get_ident() == self.thread:
                _resolve(self.future)
            else:
                self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:
            pass  # Rule 3: the loop is closed; the writer's command must not fail


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _run_async(
    store: MemoryStore, session: Session, argv: Sequence[bytes], shared: bool
) -> Any:
    """Run one command, awaiting outside the lock if it blocks."""
    with store.lock:
        reply = _execute_locked(store, session, argv, shared)
        if reply.__class__ is Blocked:
            waiter = _AsyncWaiter(asyncio.get_running_loop())
            store.engine.block(reply, waiter.wake)
    if reply.__class__ is Blocked:
        return await _wait_async(store, reply, waiter)
    return None if reply is NULL_ARRAY else reply


async def _wait_async(store: MemoryStore, blocked: Blocked, waiter: _AsyncWaiter) -> Any:
    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
    # cancellation that races the future's completion (rule 2 wants it raised).
    try:
        async with asyncio.timeout(_timeout_s(store.engine, blocked)):
            await waiter.future
    except TimeoutError:
        pass
    finally:
        withdrawn = _settle(store, blocked, waiter)
    return _result(blocked.timeout_reply if withdrawn else waiter.reply)


# -- clients -------------------------------------------------------------------


class MemoryClient(Commands):
    """A synchronous client of an in-process store; share it freely across threads."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or open_store()
        self._session = Session(resp=3)

    def execute(self, *args: Any) -> Any:
        """Run one command and return its decoded reply."""
        # `_run` and `encode_command`, inlined: every call of every app goes
        # through here, and each Python call level costs ~50 ns of ~700.
        for arg in args:
            if arg.__class__ is not bytes:
                args = encode_command(args)
                break
        store = self.store
        session = self._session
        with store.lock:
            try:
                reply = store.engine.execute(session, args)
            except CommandError as error:
                raise response_error(error.message) from None
            if session.multi is not None or session.watched:
                _refuse_session_state(store.engine, session, args)
            if reply.__class__ is Blocked:
                waiter = _Waiter()
                store.engine.block(reply, waiter.wake)
        if reply.__class__ is Blocked:
            return _wait(store, reply, waiter)
        return None if reply is NULL_ARRAY else reply

    def pipeline(self, transaction: bool = True) -> MemoryPipeline:
        """Commands buffered and run in one go under the lock (MULTI/EXEC if `transaction`)."""
        return MemoryPipeline(self.store, transaction=transaction)

    def close(self) -> None:
        """Nothing to release: the store outlives its clients."""

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncMemoryClient(Commands):
    """The asyncio twin of MemoryClient: the same store, awaitable calls."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or open_store()
        self._session = Session(resp=3)

    async def execute(self, *args: Any) -> Any:
        """Run one command and return its decoded reply."""
        return await _run_async(self.store, self._session, encode_command(args), True)

    def pipeline(self, transaction: bool = True) -> AsyncMemoryPipeline:
        return AsyncMemoryPipeline(self.store, transaction=transaction)

    async def aclose(self) -> None:
        """Nothing to release: the store outlives its clients."""

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# -- pipelines -----------------------------------------------------------------


class _Pipeline(Commands):
    """What the sync and async pipelines share: the buffer and running it.

    Calls are buffered and `execute()` runs them all at once under the
    store's lock, wrapped in MULTI/EXEC when `transaction` is true. After
    `watch(...)` the pipeline runs commands at once (to read what it watches)
    until `multi()` starts buffering; EXEC then raises WatchError if a watched
    key changed. A pipeline has its own session: use it from one thread or task.
    """

    def __init__(self, store: MemoryStore, *, transaction: bool) -> None:
        self.store = store
        self.transaction = transaction
        self._session = Session(resp=3)
        self._buffer: list[tuple[bytes, ...]] = []
        self._immediate = False

    def multi(self) -> None:
        """Start buffering the transaction after `watch()`."""
        if not self._immediate:
            raise UsageError("multi() follows watch(); a plain pipeline buffers already")
        self._immediate = False

    def _watch_argv(self, keys: Sequence[Any]) -> tuple[bytes, ...]:
        if self._buffer:
            raise UsageError("call watch() before buffering commands in a pipeline")
        return encode_command((b"WATCH", *keys))

    def _reset(self) -> None:
        """Forget the buffer and any WATCH; the pipeline can be used again."""
        self._buffer.clear()
        self._immediate = False
        if self._session.watched:
            with self.store.lock:
                unwatch_all(self.store.engine, self._session)

    def run(self, *, raise_on_error: bool = True) -> list[Any]:
        """Run the buffer under the lock and return the replies."""
        commands, self._buffer = self._buffer, []
        self._immediate = False
        engine = self.store.engine
        session = self._session
        with self.store.lock:
            if self.transaction:
                replies = self._run_transaction(engine, session, commands)
            else:
                replies = [self._run_one(engine, session, argv) for argv in commands]
        return pipeline_results(replies, raise_on_error=raise_on_error)

    def _run_transaction(
        self, engine: Engine, session: Session, commands: list[tuple[bytes, ...]]
    ) -> list[Reply]:
        if not commands:
            engine.execute(session, (b"UNWATCH",))
            return []
        engine.execute(session, (b"MULTI",))
        queue_replies = [self._run_one(engine, session, argv) for argv in commands]
        exec_reply = self._run_one(engine, session, (b"EXEC",))
        return transaction_replies(commands, queue_replies, exec_reply)

    @staticmethod
    def _run_one(engine: Engine, session: Session, argv: tuple[bytes, ...]) -> Reply:
        try:
            reply = engine.execute(session, argv)
        except CommandError as error:
            return error
        if reply.__class__ is Blocked:
            # Waiting here would hold the lock against the writer that wakes it.
            return CommandError(
                f"ERR {argv[0].decode()} cannot block inside a pipeline on memory://; "
                "run it on its own or in a transaction (where it does not block)"
            )
        return reply

    def __len__(self) -> int:
        return len(self._buffer)


class MemoryPipeline(_Pipeline):
    """Buffered commands with redis-py's pipeline semantics, WATCH included."""

    def execute_command(self, *args: Any) -> Any:
        argv = encode_command(args)
        if self._immediate:
            return _run(self.store, self._session, argv, False)
        self._buffer.append(argv)
        return self

    def watch(self, *keys: Any) -> None:
        """WATCH `keys`; commands then run at once until `multi()`."""
        _run(self.store, self._session, self._watch_argv(keys), False)
        self._immediate = True

    def unwatch(self) -> None:
        _run(self.store, self._session, (b"UNWATCH",), False)

    def execute(self, *args: Any, raise_on_error: bool = True) -> Any:
        """With arguments, buffer one command; without, run the buffer and return the replies."""
        if args:
            return self.execute_command(*args)
        return self.run(raise_on_error=raise_on_error)

    def reset(self) -> None:
        """Forget the buffer and any WATCH; the pipeline can be used again."""
        self._reset()

    def __enter__(self) -> MemoryPipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._reset()


class AsyncMemoryPipeline(_Pipeline):
    """MemoryPipeline for asyncio, as redis-py's: buffering calls stay plain and
    return the pipeline; `watch`, `unwatch`, `execute`, `reset` and commands in
    immediate mode (between `watch` and `multi`) are awaited."""

    def execute_command(self, *args: Any) -> Any:
        argv = encode_command(args)
        if self._immediate:
            return _run_async(self.store, self._session, argv, False)
        self._buffer.append(argv)
        return self

    async def watch(self, *keys: Any) -> None:
        """WATCH `keys`; commands then run at once until `multi()`."""
        await _run_async(self.store, self._session, self._watch_argv(keys), False)
        self._immediate = True

    async def unwatch(self) -> None:
        await _run_async(self.store, self._session, (b"UNWATCH",), False)

    async def execute(self, *args: Any, raise_on_error: bool = True) -> Any:
        """With arguments, buffer one command (or run it, after `watch`);
        without, run the buffer and return the replies."""
        if args:
            result = self.execute_command(*args)
            return result if result is self else await result
        return self.run(raise_on_error=raise_on_error)

    async def reset(self) -> None:
        """Forget the buffer and any WATCH; the pipeline can be used again."""
        self._reset()

    async def __aenter__(self) -> AsyncMemoryPipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._reset()
