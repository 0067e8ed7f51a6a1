"""The in-process client: URLs, argument encoding, errors, pipelines, blocking, races.

Each test gets its own store (its own engine) unless it is about named
stores. Waits use generous timeouts and never assert on durations, except
that a woken pop returns well before its own (long) timeout.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import queuekit.client.memory as memory
from queuekit import connect, connect_async
from queuekit.client.encoding import encode_arg, encode_command
from queuekit.client.memory import (
    AsyncMemoryClient,
    MemoryClient,
    MemoryPipeline,
    MemoryStore,
    open_store,
)
from queuekit.engine import errors
from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.errors import (
    BusyError,
    ExecAbortError,
    NoAuthError,
    OutOfMemoryError,
    ResponseError,
    UsageError,
    WatchError,
    WrongTypeError,
    response_error,
)

WAIT_S = 30.0  # generous: the machine is shared and slow


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    store = MemoryStore(Engine(FakeClock()))
    yield store
    store.close()


@pytest.fixture
def client(store: MemoryStore) -> MemoryClient:
    return MemoryClient(store)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` (a test helper, not the client) until true or WAIT_S passed."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


def parked(store: MemoryStore, key: bytes) -> int:
    """How many waiters are parked on `key`, read under the store's lock."""
    with store.lock:
        queue = store.engine.db.waiting.get(key)
        return 0 if queue is None else len(queue)


async def until_parked(store: MemoryStore, key: bytes, count: int = 1) -> None:
    """Let a task just created run: it parks in its first step, under the store's lock."""
    await asyncio.sleep(0)
    assert parked(store, key) == count


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- memory:// URLs ---------------------------------------------------------------


def test_same_name_shares_one_store() -> None:
    """Two clients of memory://NAME see one dataset."""
    name = unique("shared")
    first, second = connect(f"memory://{name}"), connect(f"memory://{name}")
    first.set("k", "v")
    assert second.get("k") == b"v"
    assert first.store is second.store


def test_different_names_are_different_stores() -> None:
    """memory://a and memory://b do not share keys; neither does the default store."""
    a, b = connect(f"memory://{unique('a')}"), connect(f"memory://{unique('b')}")
    a.set("only-in-a", 1)
    assert b.exists("only-in-a") == 0
    assert connect("memory://").store is not a.store


def test_name_spellings() -> None:
    """memory:///x is memory://x, a trailing slash is ignored, and a/b is not ab."""
    name = unique("spell")
    assert connect(f"memory:///{name}").store is connect(f"memory://{name}/").store
    assert connect(f"memory://{name}/sub").store is not connect(f"memory://{name}sub").store
    assert connect("memory://").store is open_store("")


def test_async_client_shares_the_named_store() -> None:
    """connect_async and connect of the same URL share one store."""
    name = unique("async")
    sync_client = connect(f"memory://{name}")
    sync_client.set("k", "from-sync")

    async def read() -> Any:
        return await connect_async(f"memory://{name}").get("k")

    assert asyncio.run(read()) == b"from-sync"


@pytest.mark.parametrize("url", ["memory://x?maxmemory=1", "memory://x#frag", "ftp://host/x"])
def test_bad_urls_are_refused_by_name(url: str) -> None:
    """A URL with options, or of a scheme memory:// is not, is a ValueError naming it."""
    with pytest.raises(ValueError, match=url.replace("?", r"\?")):
        connect(url)


# -- argument encoding --------------------------------------------------------------


class Color(enum.IntEnum):
    RED = 7


@pytest.mark.parametrize(
    ("arg", "encoded"),
    [
        (b"raw\x00bytes", b"raw\x00bytes"),
        ("text", b"text"),
        ("caf\u00e9", "caf\u00e9".encode()),
        (42, b"42"),
        (-(2**63), b"-9223372036854775808"),
        (10**30, b"1000000000000000000000000000000"),
        (1.5, b"1.5"),
        (0.1, b"0.1"),
        (1e100, b"1e+100"),
        (float("inf"), b"inf"),
        (-0.0, b"-0.0"),
        (bytearray(b"ba"), b"ba"),
        (memoryview(b"mv"), b"mv"),
        (Color.RED, b"7"),
    ],
)
def test_encode_rules(arg: Any, encoded: bytes) -> None:
    """bytes pass through, str is UTF-8, int decimal, float its shortest repr."""
    assert encode_arg(arg) == encoded


def test_float_subclass_encodes_as_float() -> None:
    """A float subclass (as numpy's float64) encodes like the float it is."""

    class Fancy(float):
        def __repr__(self) -> str:
            return "Fancy!"

    assert encode_arg(Fancy(2.5)) == b"2.5"


@pytest.mark.parametrize("bad", [True, False, None, {"a": 1}, [1], object()])
def test_bool_none_and_others_are_refused_naming_the_value(bad: Any) -> None:
    """bool, None and containers are a TypeError that shows the value and its type."""
    with pytest.raises(TypeError, match=f"invalid argument {bad!r}".replace("[", r"\[")):
        encode_arg(bad)


def test_client_refuses_none_before_running_anything(client: MemoryClient) -> None:
    """A None value raises TypeError and writes nothing."""
    with pytest.raises(TypeError, match="None of type NoneType"):
        client.set("k", None)
    with pytest.raises(TypeError, match="True of type bool"):
        client.rpush("l", "a", True)
    assert client.exists("k", "l") == 0


def test_encode_command_keeps_all_bytes_commands_as_is() -> None:
    """A command already made of bytes is only turned into a tuple."""
    assert encode_command([b"GET", b"k"]) == (b"GET", b"k")
    assert encode_command(["SET", "k", 1]) == (b"SET", b"k", b"1")


# -- error replies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (errors.WRONGTYPE, WrongTypeError),
        (errors.EXECABORT, ExecAbortError),
        (errors.OOM, OutOfMemoryError),
        ("NOAUTH Authentication required.", NoAuthError),
        ("WRONGPASS invalid username-password pair", NoAuthError),
        ("BUSY Redis is busy running a script.", BusyError),
        ("LOADING Redis is loading the dataset in memory", BusyError),
        (errors.SYNTAX, ResponseError),
        ("WRONGTYPEX not a prefix match", ResponseError),
    ],
)
def test_error_class_follows_the_prefix(message: str, kind: type[ResponseError]) -> None:
    """The exception class is chosen by the reply's first word, the message kept whole."""
    error = response_error(message)
    assert type(error) is kind
    assert error.message == message == str(error)
    assert error.prefix == message.split(" ", 1)[0]


def test_client_raises_wrongtype_and_plain_errors(client: MemoryClient) -> None:
    """Error replies from the engine raise the matching class with Redis's text."""
    client.set("s", "v")
    with pytest.raises(WrongTypeError) as wrong:
        client.lpush("s", "x")
    assert wrong.value.message == errors.WRONGTYPE
    with pytest.raises(ResponseError) as plain:
        client.incr("s")
    assert type(plain.value) is ResponseError
    assert plain.value.message == errors.NOT_INTEGER


# -- MULTI and WATCH through a shared client -----------------------------------------


@pytest.mark.parametrize("command", [("MULTI",), ("WATCH", "k"), ("watch", "a", "b")])
def test_multi_and_watch_on_shared_client_are_refused(
    client: MemoryClient, store: MemoryStore, command: tuple[str, ...]
) -> None:
    """MULTI or WATCH through a client's execute raises UsageError and leaves no state."""
    with pytest.raises(UsageError, match=command[0].upper()):
        client.execute(*command)
    session = client._session
    assert session.multi is None
    assert session.watched == {}
    assert store.engine.db.watchers == {}
    assert client.set("k", "v") == b"OK"  # runs at once, not QUEUED
    assert client.get("k") == b"v"


def test_exec_and_discard_on_shared_client_are_plain_errors(client: MemoryClient) -> None:
    """With no transaction open, EXEC and DISCARD answer Redis's errors."""
    with pytest.raises(ResponseError, match="EXEC without MULTI"):
        client.execute("EXEC")
    with pytest.raises(ResponseError, match="DISCARD without MULTI"):
        client.execute("DISCARD")


class HookedLock:
    """A lock that runs a hook right after its next release, in the releasing thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.after_release: Callable[[], None] | None = None

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
        hook, self.after_release = self.after_release, None
        if hook is not None:
            hook()


def test_refused_multi_never_captures_another_callers_command(
    client: MemoryClient, store: MemoryStore
) -> None:
    """A command slipped in right after MULTI's lock hold runs normally, not queued."""
    lock = HookedLock()
    store.lock = lock  # type: ignore[assignment]
    seen: list[Any] = []
    lock.after_release = lambda: seen.append(client.set("k", "v"))
    with pytest.raises(UsageError):
        client.execute("MULTI")
    assert seen == [b"OK"]
    assert client.get("k") == b"v"


# -- pipelines ------------------------------------------------------------------------


def test_transaction_pipeline_runs_in_order_and_chains(client: MemoryClient) -> None:
    """Buffered calls return the pipeline; execute() runs them as MULTI/EXEC."""
    pipe = client.pipeline()
    assert pipe.incr("n").incr("n").rpush("l", "a") is pipe
    assert len(pipe) == 3
    assert pipe.execute() == [1, 2, 1]
    assert len(pipe) == 0
    assert pipe.execute() == []


def test_transaction_pipeline_with_runtime_error(client: MemoryClient) -> None:
    """A runtime error raises by default; with raise_on_error=False it stands in its place."""
    client.set("s", "v")
    with pytest.raises(WrongTypeError):
        client.pipeline().incr("n").lpush("s", "x").incr("n").execute()
    assert client.get("n") == b"2"  # EXEC ran every command
    replies = client.pipeline().incr("n").lpush("s", "x").execute(raise_on_error=False)
    assert replies[0] == 3
    assert type(replies[1]) is WrongTypeError
    assert replies[1].message == errors.WRONGTYPE


def test_transaction_pipeline_with_queued_error_runs_nothing(client: MemoryClient) -> None:
    """A command refused while queueing aborts all; the error names that command."""
    pipe = client.pipeline()
    pipe.incr("n").execute_command("NOSUCH", "x")
    with pytest.raises(ExecAbortError, match=r"Command #2 \(NOSUCH\) was refused"):
        pipe.execute()
    assert client.exists("n") == 0


def test_plain_pipeline_errors_are_their_own(client: MemoryClient) -> None:
    """Without a transaction each command runs and fails alone; errors can stay in place."""
    client.set("s", "v")
    replies = (
        client.pipeline(transaction=False)
        .incr("n")
        .execute_command("NOSUCH")
        .lpush("s", "x")
        .incr("n")
        .execute(raise_on_error=False)
    )
    assert replies[0] == 1 and replies[3] == 2
    assert type(replies[1]) is ResponseError
    assert type(replies[2]) is WrongTypeError


def test_blocking_pop_in_pipelines_does_not_wait(client: MemoryClient) -> None:
    """In a plain pipeline a pop that would block is an error; in a transaction it answers nil."""
    replies = client.pipeline(transaction=False).blpop("q", 0).execute(raise_on_error=False)
    assert "cannot block inside a pipeline" in replies[0].message
    assert client.pipeline().blpop("q", 0).rpush("q", "a").blpop("q", 0).execute() == [
        None,
        1,
        [b"q", b"a"],
    ]


def test_watch_pipeline_commits_when_untouched(client: MemoryClient) -> None:
    """watch() runs commands at once until multi(); EXEC commits if nobody wrote."""
    client.set("k", 5)
    with client.pipeline() as pipe:
        pipe.watch("k")
        value = int(pipe.get("k"))
        pipe.multi()
        assert pipe.set("k", value + 1) is pipe
        assert pipe.execute() == [b"OK"]
    assert client.get("k") == b"6"


def test_watch_pipeline_raises_watch_error_when_touched(
    client: MemoryClient, store: MemoryStore
) -> None:
    """A write by anyone between watch() and execute() raises WatchError; nothing runs."""
    client.set("k", 5)
    pipe = client.pipeline()
    pipe.watch("k")
    client.set("k", 50)
    pipe.multi()
    pipe.set("k", 6).set("other", 1)
    with pytest.raises(WatchError):
        pipe.execute()
    assert client.get("k") == b"50"
    assert client.exists("other") == 0
    assert store.engine.db.watchers == {}


def test_failed_watch_leaves_the_pipeline_buffering(client: MemoryClient) -> None:
    """A WATCH the store refuses does not switch the pipeline to running commands at once."""
    pipe = client.pipeline()
    with pytest.raises(ResponseError, match="wrong number of arguments for 'watch'"):
        pipe.watch()
    assert pipe.get("k") is pipe


def test_watch_after_buffering_is_a_usage_error(client: MemoryClient) -> None:
    """watch() must come before buffered commands."""
    pipe = client.pipeline()
    pipe.incr("n")
    with pytest.raises(UsageError, match="before buffering"):
        pipe.watch("k")
    with pytest.raises(UsageError, match="multi"):
        client.pipeline().multi()


def test_pipeline_exit_and_reset_forget_watches(client: MemoryClient, store: MemoryStore) -> None:
    """Leaving the with-block, or reset(), unwatches and clears the buffer."""
    with client.pipeline() as pipe:
        pipe.watch("a", "b")
        assert set(store.engine.db.watchers) == {b"a", b"b"}
    assert store.engine.db.watchers == {}
    pipe = client.pipeline()
    pipe.watch("a")
    pipe.reset()
    assert store.engine.db.watchers == {}
    assert pipe.incr("n") is pipe  # buffering again
    assert pipe.execute() == [1]


def test_watched_pipeline_blocking_pop_waits_for_a_push(
    client: MemoryClient, store: MemoryStore
) -> None:
    """Between watch() and multi() a blocking pop really waits, like any command at once."""
    pipe = client.pipeline()
    pipe.watch("k")

    def push_once_parked() -> None:
        wait_until(lambda: parked(store, b"q") == 1, "the pipeline parks")
        client.rpush("q", "x")

    pusher = threading.Thread(target=push_once_parked)
    pusher.start()
    assert pipe.blpop("q", timeout=WAIT_S) == [b"q", b"x"]
    pusher.join(WAIT_S)
    pipe.reset()


# -- blocking pops, sync ------------------------------------------------------------------


def test_blocking_pop_is_woken_by_a_push_without_polling(
    client: MemoryClient, store: MemoryStore
) -> None:
    """A thread parked in BRPOP is woken by another thread's push and issues no other command."""
    calls: list[tuple[int, bytes]] = []
    execute = store.engine.execute

    def recording(session: Any, argv: Any) -> Any:
        calls.append((threading.get_ident(), bytes(argv[0])))
        return execute(session, argv)

    store.engine.execute = recording  # type: ignore[method-assign]
    result: list[Any] = []
    waiter = threading.Thread(target=lambda: result.append(client.brpop("q", timeout=WAIT_S * 4)))
    started = time.monotonic()
    waiter.start()
    wait_until(lambda: parked(store, b"q") == 1, "the waiter parks")
    client.lpush("q", "job")
    waiter.join(WAIT_S)
    assert result == [[b"q", b"job"]]
    assert time.monotonic() - started < WAIT_S * 4  # woken, not timed out
    assert [name for ident, name in calls if ident == waiter.ident] == [b"BRPOP"]


def test_blocking_pop_times_out_with_none(client: MemoryClient, store: MemoryStore) -> None:
    """A pop nobody serves answers None at its timeout and leaves nothing parked."""
    assert client.blpop(["a", "b"], timeout=0.05) is None
    assert store.engine.db.waiting == {}


def test_timed_out_waiter_that_was_served_keeps_the_item(
    client: MemoryClient, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the wait times out just as a push serves it, the waiter returns the item."""
    pusher = MemoryClient(store)

    class ServedAsItTimesOut:
        def wait(self, timeout: float | None) -> bool:
            pusher.rpush("q", "item")  # serves the parked waiter...
            return False  # ...but the wait reports a timeout

        def set(self) -> None:
            pass

    class RacyWaiter(memory._Waiter):
        def __init__(self) -> None:
            super().__init__()
            self.event = ServedAsItTimesOut()  # type: ignore[assignment]

    monkeypatch.setattr(memory, "_Waiter", RacyWaiter)
    assert client.blpop("q", timeout=1) == [b"q", b"item"]
    assert store.engine.db.data.get(b"q") is None
    assert store.engine.db.waiting == {}


def test_interrupted_wait_leaves_nothing_parked(
    client: MemoryClient, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception in the wait (say KeyboardInterrupt) withdraws the waiter; pushes stay."""

    class Interrupted:
        def wait(self, timeout: float | None) -> bool:
            raise KeyboardInterrupt

    class InterruptedWaiter(memory._Waiter):
        def __init__(self) -> None:
            super().__init__()
            self.event = Interrupted()  # type: ignore[assignment]

    monkeypatch.setattr(memory, "_Waiter", InterruptedWaiter)
    with pytest.raises(KeyboardInterrupt):
        client.blpop("q", timeout=0)
    assert store.engine.db.waiting == {}
    client.rpush("q", "kept")
    assert list(store.engine.db.data[b"q"]) == [b"kept"]


# -- asyncio --------------------------------------------------------------------------------


def test_async_client_runs_commands(store: MemoryStore) -> None:
    """The async client awaits the same commands with the same replies."""

    async def main() -> list[Any]:
        async with AsyncMemoryClient(store) as client:
            return [await client.set("k", 1), await client.incr("k"), await client.get("k")]

    assert asyncio.run(main()) == [b"OK", 2, b"2"]


def test_async_client_raises_error_classes(store: MemoryStore) -> None:
    """Error replies raise the same classes through the async client; MULTI is refused."""

    async def main() -> None:
        client = AsyncMemoryClient(store)
        await client.set("s", "v")
        with pytest.raises(WrongTypeError):
            await client.lpush("s", "x")
        with pytest.raises(UsageError):
            await client.execute("MULTI")
        assert await client.incr("n") == 1

    asyncio.run(main())


def test_async_pipeline_transaction_and_plain(store: MemoryStore) -> None:
    """The async pipeline buffers without awaiting and awaits execute()."""

    async def main() -> None:
        client = AsyncMemoryClient(store)
        pipe = client.pipeline()
        assert pipe.incr("n").incr("n") is pipe
        assert await pipe.execute() == [1, 2]
        plain = client.pipeline(transaction=False)
        plain.incr("n").execute_command("NOSUCH")
        replies = await plain.execute(raise_on_error=False)
        assert replies[0] == 3 and type(replies[1]) is ResponseError

    asyncio.run(main())


def test_async_pipeline_watch_is_awaited_like_redis_py(store: MemoryStore) -> None:
    """await watch(), awaited reads until multi(), then buffering and WatchError on a conflict."""

    async def main() -> None:
        client = AsyncMemoryClient(store)
        await client.set("k", 1)
        async with client.pipeline() as pipe:
            await pipe.watch("k")
            value = int(await pipe.get("k"))
            pipe.multi()
            pipe.set("k", value + 1)
            assert await pipe.execute() == [b"OK"]
        async with client.pipeline() as pipe:
            await pipe.watch("k")
            assert await pipe.execute("GET", "k") == b"2"
            await client.set("k", 100)
            pipe.multi()
            pipe.set("k", 3)
            with pytest.raises(WatchError):
                await pipe.execute()
        assert await client.get("k") == b"100"
        assert store.engine.db.watchers == {}

    asyncio.run(main())


def test_async_blocking_pop_is_woken_by_a_push(store: MemoryStore) -> None:
    """A task parked in BRPOP is woken by another task's push; the loop keeps running."""

    async def main() -> Any:
        client = AsyncMemoryClient(store)
        task = asyncio.create_task(client.brpop("q", timeout=WAIT_S * 4))
        await until_parked(store, b"q")
        await client.lpush("q", "job")
        return await asyncio.wait_for(task, WAIT_S)

    assert asyncio.run(main()) == [b"q", b"job"]


def test_async_blocking_pop_is_woken_by_another_thread(store: MemoryStore) -> None:
    """A push from a plain thread wakes a task through the loop's thread-safe door."""

    async def main() -> Any:
        client = AsyncMemoryClient(store)
        task = asyncio.create_task(client.blpop("q", timeout=WAIT_S * 4))
        await until_parked(store, b"q")
        pusher = threading.Thread(target=MemoryClient(store).rpush, args=("q", "x"))
        pusher.start()
        result = await asyncio.wait_for(task, WAIT_S)
        pusher.join(WAIT_S)
        return result

    assert asyncio.run(main()) == [b"q", b"x"]


def test_async_blocking_pop_times_out_with_none(store: MemoryStore) -> None:
    """A task's pop nobody serves answers None and leaves nothing parked."""

    async def main() -> Any:
        return await AsyncMemoryClient(store).brpop("q", timeout=0.05)

    assert asyncio.run(main()) is None
    assert store.engine.db.waiting == {}


def test_async_timed_out_waiter_that_was_served_keeps_the_item(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Served, but the future not yet resolved when the timeout fires: the item is returned."""

    class LateWaiter(memory._AsyncWaiter):
        def wake(self, reply: Any) -> None:
            self.reply = reply  # served, but the loop never hears of it in time
            self.served = True

    monkeypatch.setattr(memory, "_AsyncWaiter", LateWaiter)

    async def main() -> Any:
        client = AsyncMemoryClient(store)
        task = asyncio.create_task(client.brpop("q", timeout=0.05))
        await until_parked(store, b"q")
        await client.lpush("q", "item")
        return await asyncio.wait_for(task, WAIT_S)

    assert asyncio.run(main()) == [b"q", b"item"]
    assert store.engine.db.data.get(b"q") is None


def test_cancelled_task_leaves_no_waiter_parked(store: MemoryStore) -> None:
    """Cancelling a task blocked in BRPOP withdraws it: the next push stays in the list."""

    async def main() -> None:
        client = AsyncMemoryClient(store)
        task = asyncio.create_task(client.brpop("q", timeout=0))
        await until_parked(store, b"q")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert store.engine.db.waiting == {}
        await client.lpush("q", "kept")

    asyncio.run(main())
    assert list(store.engine.db.data[b"q"]) == [b"kept"]


def test_cancelled_as_it_is_served_loses_the_item(store: MemoryStore) -> None:
    """Cancelled after being served but before running: the cancellation wins, the item is lost.

    At most once, as documented in queuekit.client.memory (rule 2).
    """

    async def main() -> asyncio.Task[Any]:
        client = AsyncMemoryClient(store)
        task = asyncio.create_task(client.brpop("q", timeout=0))
        await until_parked(store, b"q")
        await client.lpush("q", "served")  # resolves the task's future...
        task.cancel()  # ...and the task is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await task
        return task

    task = asyncio.run(main())
    assert task.cancelled()
    assert store.engine.db.data.get(b"q") is None
    assert store.engine.db.waiting == {}


def test_push_to_a_waiter_whose_loop_is_closed_does_not_fail(store: MemoryStore) -> None:
    """The writer's command succeeds even if the waiter's event loop is gone (rule 3)."""
    loop = asyncio.new_event_loop()
    client = AsyncMemoryClient(store)
    task = loop.create_task(client.brpop("q", timeout=0))
    loop.run_until_complete(asyncio.sleep(0.01))
    assert parked(store, b"q") == 1
    loop.close()
    try:
        assert MemoryClient(store).lpush("q", "x") == 1
        assert store.engine.db.waiting == {}
    finally:
        task._log_destroy_pending = False  # type: ignore[attr-defined]
        del task


# -- close ---------------------------------------------------------------------------------------


def test_close_keeps_the_data_and_other_clients(store: MemoryStore) -> None:
    """Closing a client (twice, or by leaving a with-block) leaves the store usable."""
    with MemoryClient(store) as first:
        first.set("k", "v")
    first.close()
    assert MemoryClient(store).get("k") == b"v"

    async def main() -> None:
        async with AsyncMemoryClient(store) as client:
            await client.set("a", 1)
        await client.aclose()

    asyncio.run(main())
    assert MemoryClient(store).get("a") == b"1"


def test_store_close_stops_its_expiry_thread() -> None:
    """MemoryStore.close() ends the background expiry thread; data stays readable."""
    store = MemoryStore(Engine(FakeClock()))
    MemoryClient(store).set("k", "v")
    store.close()
    store._cron.join(WAIT_S)
    assert not store._cron.is_alive()
    assert MemoryClient(store).get("k") == b"v"


def test_expiry_thread_reclaims_keys_nobody_reads() -> None:
    """The background cycle deletes expired keys without any command touching them."""
    clock = FakeClock()
    store = MemoryStore(Engine(clock))
    try:
        client = MemoryClient(store)
        for i in range(50):
            client.set(f"k{i}", "v", px=1000)
        clock.advance(2)
        wait_until(lambda: not store.engine.db.data, "the expiry thread reclaims every key")
        assert store.engine.db.expired_keys == 50
    finally:
        store.close()


def test_typed_methods_follow_redis_py(client: MemoryClient) -> None:
    """mget takes a list or keys one by one; blmove defaults to LEFT to RIGHT; ex may be a float."""
    client.set("x", 1)
    client.set("y", 2)
    assert client.mget(["x", "y"]) == client.mget("x", "y") == [b"1", b"2"]
    client.rpush("src", "a", "b")
    client.rpush("dst", "z")
    assert client.blmove("src", "dst", 1) == b"a"
    assert client.lrange("dst", 0, -1) == [b"z", b"a"]
    assert client.set("t", "v", ex=1.5) == b"OK"
    assert client.pttl("t") == 1500


def test_pipeline_type_is_the_sync_one(client: MemoryClient) -> None:
    """client.pipeline() returns a MemoryPipeline on the client's store."""
    pipe = client.pipeline(transaction=False)
    assert isinstance(pipe, MemoryPipeline)
    assert pipe.store is client.store and not pipe.transaction
