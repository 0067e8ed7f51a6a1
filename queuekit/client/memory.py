"""memory://: the engine in this process, shared safely by threads and tasks.

A `MemoryStore` is one engine behind one lock: whichever thread or task holds
the lock runs a whole command, or a whole pipeline or MULTI/EXEC, so each is
atomic. A background thread runs the active expiry cycle ten times a second
(Redis's hz 10) so that keys nobody reads are still reclaimed.

Blocking pops wait outside the lock: the engine parks the command and calls
the waiter's `wake` from whichever thread's write served it, which sets a
threading.Event (sync) or resolves a future through the loop's thread-safe
door (asyncio). The reply is kept on the waiter, not in the Event or future,
so a waiter that times out at the same moment still finds it: a popped
element is never dropped between the engine and the caller.

Stores are named: `memory://` is the process's default store, `memory://jobs`
another one; every client of one name shares one dataset.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from queuekit.client.commands import Commands
from queuekit.client.encoding import encode_command
from queuekit.engine.clock import Clock
from queuekit.engine.engine import Engine
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Blocked, Reply
from queuekit.engine.session import Session
from queuekit.errors import UsageError, WatchError, response_error

CRON_INTERVAL_S = 0.1  # Redis's default hz is 10
CRON_EXPIRE_BUDGET_S = 0.025  # a quarter of each tick, like Redis's slow cycle


class MemoryStore:
    """One engine, its lock and its expiry thread."""

    def __init__(self, engine: Engine | None = None, *, clock: Clock | None = None) -> None:
        self.engine = engine or Engine(clock)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._cron = threading.Thread(
            target=_cron, args=(weakref.ref(self), self._stop), name="queuekit-expiry", daemon=True
        )
        self._cron.start()

    def close(self) -> None:
        """Stop the expiry thread; the data stays readable."""
        self._stop.set()

    def __del__(self) -> None:
        self._stop.set()

    def run(self, session: Session, argv: Sequence[bytes]) -> Reply:
        """Execute under the lock; error replies become ResponseError."""
        with self.lock:
            try:
                return self.engine.execute(session, argv)
            except CommandError as error:
                raise response_error(error.message) from None


def _cron(store_ref: weakref.ref[MemoryStore], stop: threading.Event) -> None:
    while not stop.wait(CRON_INTERVAL_S):
        store = store_ref()
        if store is None:
            return
        with store.lock:
            store.engine.db.active_expire_cycle(CRON_EXPIRE_BUDGET_S)
        del store


_stores: dict[str, MemoryStore] = {}
_stores_lock = threading.Lock()


def open_store(name: str = "") -> MemoryStore:
    """The process-wide store called `name` ("" is the default), made on first use."""
    with _stores_lock:
        store = _stores.get(name)
        if store is None:
            store = _stores[name] = MemoryStore()
        return store


class _Waiter:
    """Where a parked blocking command's reply lands."""

    __slots__ = ("event", "reply", "served")

    def __init__(self) -> None:
        self.reply: Reply = None
        self.served = False
        self.event = threading.Event()

    def wake(self, reply: Reply) -> None:
        self.reply = reply
        self.served = True
        self.event.set()


def _result(reply: Reply) -> Any:
    """A top-level reply as the client hands it out."""
    if reply is NULL_ARRAY:
        return None
    if isinstance(reply, CommandError):
        raise response_error(reply.message)
    return reply


def _check_shared_session(store: MemoryStore, session: Session) -> None:
    """MULTI or WATCH through a shared client would leak into other callers."""
    if session.multi is not None or session.watched:
        with store.lock:
            if session.multi is not None:
                store.engine.execute(session, (b"DISCARD",))
            store.engine.execute(session, (b"UNWATCH",))
        raise UsageError(
            "MULTI and WATCH need a connection of their own: "
            "use client.pipeline(transaction=True) and pipeline.watch(...)"
        )


class MemoryClient(Commands):
    """A synchronous client of an in-process store; share it freely across threads."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or open_store()
        self._session = Session(resp=3)

    def execute(self, *args: Any) -> Any:
        """Run one command and return its decoded reply."""
        argv = encode_command(args)
        store = self.store
        with store.lock:
            try:
                reply = store.engine.execute(self._session, argv)
            except CommandError as error:
                raise response_error(error.message) from None
            if reply.__class__ is Blocked:
                waiter = _Waiter()
                store.engine.block(reply, waiter.wake)
        if reply.__class__ is Blocked:
            return self._wait(reply, waiter)
        if reply is NULL_ARRAY:
            return None
        session = self._session
        if session.multi is not None or session.watched:
            _check_shared_session(store, session)
        return reply

    def _wait(self, blocked: Blocked, waiter: _Waiter) -> Any:
        engine = self.store.engine
        timeout = None
        if blocked.deadline_ms is not None:
            timeout = max(0.0, (blocked.deadline_ms - engine.clock.now_ms()) / 1000)
        waiter.event.wait(timeout)
        with self.store.lock:
            if not waiter.served and engine.unblock(blocked):
                return _result(blocked.timeout_reply)
        return _result(waiter.reply)

    def pipeline(self, transaction: bool = True) -> MemoryPipeline:
        """Commands buffered and run in one go under the lock (MULTI/EXEC if `transaction`)."""
        return MemoryPipeline(self.store, transaction=transaction)

    def close(self) -> None:
        """Nothing to release: the store outlives its clients."""

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class MemoryPipeline(Commands):
    """Buffered commands with redis-py's pipeline semantics, WATCH included.

    Calls are buffered and `execute()` runs them all at once under the
    store's lock, wrapped in MULTI/EXEC when `transaction` is true. After
    `watch(...)` the pipeline runs commands at once (to read what it watches)
    until `multi()` starts buffering; EXEC then raises WatchError if a watched
    key changed.
    """

    def __init__(self, store: MemoryStore, *, transaction: bool) -> None:
        self.store = store
        self.transaction = transaction
        self._session = Session(resp=3)
        self._buffer: list[tuple[bytes, ...]] = []
        self._immediate = False

    def execute_command(self, *args: Any) -> Any:
        argv = encode_command(args)
        if self._immediate:
            return _result(self.store.run(self._session, argv))
        self._buffer.append(argv)
        return self

    def watch(self, *keys: Any) -> None:
        if self._buffer:
            raise UsageError("call watch() before buffering commands in a pipeline")
        self._immediate = True
        self.store.run(self._session, encode_command((b"WATCH", *keys)))

    def unwatch(self) -> None:
        self.store.run(self._session, (b"UNWATCH",))

    def multi(self) -> None:
        if not self._immediate:
            raise UsageError("multi() follows watch(); a plain pipeline buffers already")
        self._immediate = False

    def execute(self, *args: Any, raise_on_error: bool = True) -> Any:
        """With arguments, buffer one command; without, run the buffer and return the replies."""
        if args:
            return self.execute_command(*args)
        return self.run(raise_on_error=raise_on_error)

    def run(self, *, raise_on_error: bool = True) -> list[Any]:
        commands, self._buffer = self._buffer, []
        self._immediate = False
        engine = self.store.engine
        session = self._session
        with self.store.lock:
            if self.transaction:
                replies = self._run_transaction(engine, session, commands)
            else:
                replies = [self._run_one(engine, session, argv) for argv in commands]
        results: list[Any] = []
        for reply in replies:
            if isinstance(reply, CommandError):
                error = response_error(reply.message)
                if raise_on_error:
                    raise error
                results.append(error)
            else:
                results.append(None if reply is NULL_ARRAY else reply)
        return results

    def _run_transaction(
        self, engine: Engine, session: Session, commands: list[tuple[bytes, ...]]
    ) -> list[Reply]:
        if not commands:
            engine.execute(session, (b"UNWATCH",))
            return []
        engine.execute(session, (b"MULTI",))
        queue_errors: dict[int, CommandError] = {}
        for index, argv in enumerate(commands):
            try:
                engine.execute(session, argv)
            except CommandError as error:
                queue_errors[index] = error
        try:
            replies = engine.execute(session, (b"EXEC",))
        except CommandError as error:
            if queue_errors:  # EXECABORT: say which command doomed it
                first = min(queue_errors)
                raise response_error(
                    f"{error.message} Command #{first + 1} ({commands[first][0].decode()}) "
                    f"was refused: {queue_errors[first].message}"
                ) from None
            raise response_error(error.message) from None
        if replies is NULL_ARRAY:
            raise WatchError("a watched key changed before EXEC; nothing ran")
        return list(replies)

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

    def __enter__(self) -> MemoryPipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._session.watched:
            self.unwatch()
        self._buffer.clear()


class AsyncMemoryClient(Commands):
    """The asyncio twin of MemoryClient: the same store, awaitable calls."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or open_store()
        self._session = Session(resp=3)

    async def execute(self, *args: Any) -> Any:
        """Run one command and return its decoded reply."""
        argv = encode_command(args)
        store = self.store
        with store.lock:
            try:
                reply = store.engine.execute(self._session, argv)
            except CommandError as error:
                raise response_error(error.message) from None
            if reply.__class__ is Blocked:
                waiter = _AsyncWaiter(asyncio.get_running_loop())
                store.engine.block(reply, waiter.wake)
        if reply.__class__ is Blocked:
            return await self._wait(reply, waiter)
        if reply is NULL_ARRAY:
            return None
        session = self._session
        if session.multi is not None or session.watched:
            _check_shared_session(store, session)
        return reply

    async def _wait(self, blocked: Blocked, waiter: _AsyncWaiter) -> Any:
        engine = self.store.engine
        timeout = None
        if blocked.deadline_ms is not None:
            timeout = max(0.0, (blocked.deadline_ms - engine.clock.now_ms()) / 1000)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except TimeoutError:
            pass
        finally:
            with self.store.lock:
                withdrawn = not waiter.served and engine.unblock(blocked)
        if withdrawn:
            return _result(blocked.timeout_reply)
        return _result(waiter.reply)

    def pipeline(self, transaction: bool = True) -> AsyncMemoryPipeline:
        return AsyncMemoryPipeline(self.store, transaction=transaction)

    async def aclose(self) -> None:
        """Nothing to release: the store outlives its clients."""

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _AsyncWaiter:
    __slots__ = ("future", "loop", "reply", "served", "thread")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.reply: Reply = None
        self.served = False
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.thread = threading.get_ident()

    def wake(self, reply: Reply) -> None:
        self.reply = reply
        self.served = True
        if threading.get_ident() == self.thread:
            _resolve(self.future)
        else:
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class AsyncMemoryPipeline(MemoryPipeline):
    """MemoryPipeline with awaitable `execute()`; buffering calls stay plain."""

    async def execute(self, *args: Any, raise_on_error: bool = True) -> Any:
        if args:
            return self.execute_command(*args)
        return self.run(raise_on_error=raise_on_error)

    async def __aenter__(self) -> AsyncMemoryPipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)
