"""The network client (redis://, unix://) against the queuekit server and a real Redis.

The same tour of commands must give the same typed values on both stores
(RESP3: floats for scores, dicts for hashes, sets for set members), and
the client's guarantees hold on both: pipelines, transactions, WATCH
conflicts, EXECABORT naming the refused command, a pool that notices a
restarted server, and no silent retry of a command whose connection broke.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from queuekit.client.address import Address, parse_url
from queuekit.client.network import AsyncNetworkClient, NetworkClient
from queuekit.engine.replies import Status
from queuekit.errors import (
    ExecAbortError,
    ResponseError,
    StoreConnectionError,
    WatchError,
    WrongTypeError,
)
from tests.support.queuekit_server import RunningServer, running_server
from tests.support.redis_server import free_port
from tests.support.wire import encode_command

WAIT_S = 30.0


@pytest.fixture(scope="module")
def own_server() -> Iterator[RunningServer]:
    """A queuekit server for this module, on TCP and on a unix socket."""
    with running_server(unix=True) as server:
        yield server


def _flush(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
        sock.sendall(encode_command([b"FLUSHALL"]))
        assert sock.recv(16) == b"+OK\r\n"


@pytest.fixture(params=["queuekit", pytest.param("redis", marks=pytest.mark.redis)])
def url(request: pytest.FixtureRequest, own_server: RunningServer) -> str:
    """A redis:// URL to an emptied store: the queuekit server, then a real redis-server."""
    if request.param == "queuekit":
        port = own_server.port
    else:
        port = request.getfixturevalue("redis_server").port
    _flush(port)
    return f"redis://127.0.0.1:{port}/0?timeout=30&retry_for=2"


@pytest.fixture
def client(url: str) -> Iterator[NetworkClient]:
    with NetworkClient(parse_url(url)) as client:
        yield client


# -- the tour -------------------------------------------------------------------------

TOUR: list[tuple[tuple[Any, ...], Any]] = [
    (("SET", "s", "v"), Status(b"OK")),
    (("GET", "s"), b"v"),
    (("GET", "missing"), None),
    (("INCR", "n"), 1),
    (("INCRBYFLOAT", "f", "1.5"), b"1.5"),
    (("MGET", "s", "missing"), [b"v", None]),
    (("EXPIRE", "s", 100), 1),
    (("TTL", "s"), 100),
    (("EXISTS", "s", "n", "missing"), 2),
    (("TYPE", "n"), Status(b"string")),
    (("RPUSH", "l", "a", "b", "c"), 3),
    (("LRANGE", "l", 0, -1), [b"a", b"b", b"c"]),
    (("LPOP", "l", 2), [b"a", b"b"]),
    (("LPOP", "missing", 2), None),
    (("BLPOP", "missing", "0.05"), None),
    (("BRPOP", "l", 1), [b"l", b"c"]),
    (("HSET", "h", "f1", "v1", "f2", "2"), 2),
    (("HGETALL", "h"), {b"f1": b"v1", b"f2": b"2"}),
    (("HGETALL", "missing"), {}),
    (("HINCRBYFLOAT", "h", "f2", "0.5"), b"2.5"),
    (("HMGET", "h", "f1", "nope"), [b"v1", None]),
    (("SADD", "set", "x", "y"), 2),
    (("SMEMBERS", "set"), {b"x", b"y"}),
    (("SISMEMBER", "set", "x"), 1),
    (("SMISMEMBER", "set", "x", "z"), [1, 0]),
    (("ZADD", "z", 1.5, "a", 2, "b"), 2),
    (("ZSCORE", "z", "a"), 1.5),
    (("ZSCORE", "z", "nope"), None),
    (("ZINCRBY", "z", 1, "a"), 2.5),
    (("ZMSCORE", "z", "a", "nope"), [2.5, None]),
    (("ZRANGE", "z", 0, -1, "WITHSCORES"), [[b"b", 2.0], [b"a", 2.5]]),
    (("ZPOPMIN", "z"), [b"b", 2.0]),
    (("ECHO", "hi"), b"hi"),
    (("PING",), Status(b"PONG")),
    (("DBSIZE",), 6),
]


def test_tour_gives_the_same_typed_values(client: NetworkClient) -> None:
    """Each command of the tour returns the same Python value on both stores."""
    mismatches = []
    for argv, expected in TOUR:
        got = client.execute(*argv)
        if got != expected or type(got) is not type(expected):
            mismatches.append(f"{argv}: expected {expected!r}, got {got!r}")
    assert not mismatches, "\n".join(mismatches)


def test_typed_methods(client: NetworkClient) -> None:
    """The typed methods reach the store as their commands do."""
    assert client.set("k", "v", ex=100, nx=True) == b"OK"
    assert client.set("k", "w", nx=True) is None
    assert client.get("k") == b"v"
    assert client.rpush("q", "a", "b") == 2
    assert client.blpop(["q"], timeout=1) == [b"q", b"a"]
    assert client.hset("h", "f", "v") == 1
    assert client.hgetall("h") == {b"f": b"v"}
    assert client.zadd("z", {"m": 3.5}) == 1
    assert client.zscore("z", "m") == 3.5


def test_errors_are_typed(client: NetworkClient) -> None:
    """Error replies raise the exception their prefix names, with Redis's message."""
    client.execute("SET", "s", "v")
    with pytest.raises(WrongTypeError, match=r"^WRONGTYPE Operation against a key"):
        client.execute("LPUSH", "s", "x")
    with pytest.raises(ResponseError, match=r"^ERR unknown command 'NOSUCH'"):
        client.execute("NOSUCH")


# -- pipelines and transactions -------------------------------------------------------


def test_pipeline_without_transaction(client: NetworkClient) -> None:
    """A plain pipeline returns each reply in order; errors stand in place when asked."""
    with client.pipeline(transaction=False) as pipe:
        pipe.set("a", "1").incr("a").lpush("a", "x").get("a")
        results = pipe.execute(raise_on_error=False)
    assert results[:2] == [b"OK", 2]
    assert isinstance(results[2], WrongTypeError)
    assert results[3] == b"2"


def test_transaction(client: NetworkClient) -> None:
    """A transactional pipeline returns EXEC's replies; the other clients see all or nothing."""
    with client.pipeline() as pipe:
        pipe.rpush("q", "a", "b").lpop("q").execute_command("LLEN", "q")
        assert pipe.execute() == [2, b"a", 1]


def test_watch_conflict_raises_watch_error(url: str, client: NetworkClient) -> None:
    """A WATCHed key changed by another client makes EXEC raise WatchError; nothing runs."""
    client.set("balance", "10")
    with NetworkClient(parse_url(url)) as other, client.pipeline() as pipe:
        pipe.watch("balance")
        assert pipe.get("balance") == b"10"
        other.set("balance", "99")
        pipe.multi()
        pipe.set("balance", "11")
        with pytest.raises(WatchError):
            pipe.execute()
    assert client.get("balance") == b"99"
    with client.pipeline() as pipe:  # no conflict this time
        pipe.watch("balance")
        pipe.multi()
        pipe.incr("balance")
        assert pipe.execute() == [100]


def test_execabort_names_the_refused_command(client: NetworkClient) -> None:
    """EXECABORT says which queued command was refused and why; nothing ran."""
    with client.pipeline() as pipe:
        pipe.set("k", "v").execute_command("NOSUCH", "x").incr("n")
        with pytest.raises(ExecAbortError) as raised:
            pipe.execute()
    message = raised.value.message
    assert message.startswith("EXECABORT Transaction discarded because of previous errors.")
    assert "Command #2 (NOSUCH) was refused: ERR unknown command 'NOSUCH'" in message
    assert client.get("k") is None


def test_async_client_tour_pipeline_and_watch(url: str) -> None:
    """The asyncio client gives the tour's values, pipelines and WatchError alike."""

    async def scenario() -> None:
        async with (
            AsyncNetworkClient(parse_url(url)) as client,
            AsyncNetworkClient(parse_url(url)) as other,
        ):
            for argv, expected in TOUR:
                assert await client.execute(*argv) == expected, argv
            async with client.pipeline() as pipe:
                pipe.set("a", "1").incr("a")
                assert await pipe.execute() == [b"OK", 2]
            async with client.pipeline(transaction=False) as pipe:
                pipe.incr("a").execute_command("HGETALL", "h")
                assert await pipe.execute() == [3, {b"f1": b"v1", b"f2": b"2.5"}]
            blocked = asyncio.ensure_future(client.execute("BLPOP", "wake", 20))
            await asyncio.sleep(0.1)
            assert await other.execute("RPUSH", "wake", "x") == 1
            assert await asyncio.wait_for(blocked, WAIT_S) == [b"wake", b"x"]

    asyncio.run(scenario())


def test_async_pipeline_watch_conflict_raises_watch_error(url: str) -> None:
    """The asyncio pipeline's watch/multi work as the sync one's: a conflict runs nothing."""

    async def scenario() -> None:
        async with (
            AsyncNetworkClient(parse_url(url)) as client,
            AsyncNetworkClient(parse_url(url)) as other,
        ):
            await client.execute("SET", "balance", "10")
            async with client.pipeline() as pipe:
                await pipe.watch("balance")
                assert await pipe.get("balance") == b"10"
                await other.execute("SET", "balance", "99")
                pipe.multi()
                pipe.set("balance", "11")
                with pytest.raises(WatchError):
                    await pipe.execute()
            async with client.pipeline() as pipe:  # no conflict this time
                await pipe.watch("balance")
                pipe.multi()
                pipe.incr("balance")
                assert await pipe.execute() == [100]
            assert await client.execute("GET", "balance") == b"100"

    asyncio.run(scenario())


# -- addresses --------------------------------------------------------------------------


def test_unix_socket_url(own_server: RunningServer) -> None:
    """unix:///path reaches the server's unix socket, sync and asyncio."""
    assert own_server.unixsocket is not None
    address = parse_url(f"unix://{own_server.unixsocket}?client_name=via-unix")
    with NetworkClient(address) as client:
        assert client.ping() == b"PONG"
        assert client.execute("CLIENT", "GETNAME") == b"via-unix"

    async def scenario() -> None:
        async with AsyncNetworkClient(address) as client:
            assert await client.execute("ECHO", "unix") == b"unix"

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://localhost",
            "unknown scheme 'http': use memory://, redis://, rediss:// or unix://",
        ),
        ("redis://localhost:99999", "has an invalid port"),
        ("redis://localhost:port", "has an invalid port"),
        ("redis://localhost/?nosuch=1", "unknown option 'nosuch'"),
        ("redis://localhost/?timeout=soon", "timeout must be a number, got 'soon'"),
        ("redis://localhost/zero", "the database must be a number, got 'zero'"),
        ("unix://", "names no socket path: use unix:///path/to/socket"),
        ("rediss://localhost/?ssl_cert_reqs=maybe", "ssl_cert_reqs must be required or none"),
    ],
)
def test_url_errors_say_what_is_wrong(url: str, message: str) -> None:
    """A bad store URL raises ValueError naming the URL and the problem."""
    with pytest.raises(ValueError, match=r"^store URL") as raised:
        parse_url(url)
    assert message in str(raised.value)


def test_url_parts() -> None:
    """Host, port, db, credentials and options land in the Address."""
    address = parse_url("redis://user:p%40ss@example.test:7000/0?timeout=2.5&client_name=w")
    assert address == Address(
        host="example.test",
        port=7000,
        db=0,
        username="user",
        password="p@ss",
        connect_timeout=2.5,
        reply_timeout=2.5,
        client_name="w",
    )
    assert "p@ss" not in address.describe()


# -- restarts and broken connections ---------------------------------------------------


def test_pool_reconnects_after_the_server_restarts() -> None:
    """After a restart on the same port, the next command succeeds on a new connection."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}?retry_for=10"
    with NetworkClient(parse_url(url)) as client:
        with running_server(port=port):
            assert client.execute("SET", "generation", "1") == b"OK"
        with running_server(port=port):
            assert client.execute("GET", "generation") is None  # a new, empty server
            assert client.ping() == b"PONG"


def test_async_pool_reconnects_after_the_server_restarts() -> None:
    """The asyncio pool notices the dead idle connection the same way."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}?retry_for=10"

    async def use(client: AsyncNetworkClient) -> Any:
        return await client.execute("PING")

    async def scenario() -> None:
        async with AsyncNetworkClient(parse_url(url)) as client:
            with running_server(port=port):
                assert await use(client) == b"PONG"
            with running_server(port=port):
                await asyncio.sleep(0.1)  # let the loop see the old connection's EOF
                assert await use(client) == b"PONG"

    asyncio.run(scenario())


class HalfReplyServer:
    """A fake store: answers the handshake, then half a reply to each command and hangs up."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.commands: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(WAIT_S)
                conn.recv(65536)  # HELLO 3
                conn.sendall(b"%1\r\n$5\r\nproto\r\n:3\r\n")
                command = conn.recv(65536)
                if command:
                    self.commands.append(command)
                    conn.sendall(b"$10\r\nhal")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(WAIT_S)
        self.listener.close()


@contextlib.contextmanager
def half_reply_server() -> Iterator[HalfReplyServer]:
    server = HalfReplyServer()
    try:
        yield server
    finally:
        server.close()


def test_a_connection_broken_mid_reply_raises_and_is_not_retried() -> None:
    """Half a reply then EOF raises StoreConnectionError; the command was sent once."""
    with half_reply_server() as fake:
        url = f"redis://127.0.0.1:{fake.port}?retry_for=1"
        with (
            NetworkClient(parse_url(url)) as client,
            pytest.raises(StoreConnectionError, match="may or may not have run"),
        ):
            client.execute("INCR", "counter")
        assert fake.commands == [encode_command([b"INCR", b"counter"])]

        async def scenario() -> None:
            async with AsyncNetworkClient(parse_url(url)) as client:
                with pytest.raises(StoreConnectionError, match="may or may not have run"):
                    await client.execute("INCR", "counter")

        asyncio.run(scenario())
        assert len(fake.commands) == 2


def test_a_killed_blocking_pop_raises_and_is_not_retried(own_server: RunningServer) -> None:
    """A BLPOP whose connection is killed raises StoreConnectionError and is not re-sent."""
    url = f"redis://127.0.0.1:{own_server.port}?client_name=victim"
    outcome: list[BaseException] = []

    def pop() -> None:
        with NetworkClient(parse_url(url)) as client:
            try:
                client.execute("BLPOP", "never", 0)
            except BaseException as error:
                outcome.append(error)

    thread = threading.Thread(target=pop)
    thread.start()
    try:
        with NetworkClient(parse_url(f"redis://127.0.0.1:{own_server.port}")) as admin:
            for _ in range(int(WAIT_S / 0.01)):
                if own_server.blocked_count() == 1:
                    break
                threading.Event().wait(0.01)
            victims = [
                line.split()[0].split("=")[1]
                for line in admin.execute("CLIENT", "LIST").decode().splitlines()
                if " name=victim " in line
            ]
            assert len(victims) == 1
            assert admin.execute("CLIENT", "KILL", "ID", victims[0]) == 1
    finally:
        thread.join(WAIT_S)
    assert len(outcome) == 1 and isinstance(outcome[0], StoreConnectionError)
    assert own_server.blocked_count() == 0  # not re-sent behind the caller's back


# -- the pool's own rules ------------------------------------------------------------


def test_an_idle_connection_with_a_reply_timeout_is_reused(own_server: RunningServer) -> None:
    """With ?timeout= set, an idle pooled connection is checked without waiting and reused."""
    url = f"redis://127.0.0.1:{own_server.port}?timeout=60"
    with NetworkClient(parse_url(url)) as client:
        first = client.execute("CLIENT", "ID")
        assert client.execute("CLIENT", "ID") == first
        assert client.pool._open == 1


class FakeTime:
    """A clock that moves only when slept on (and a hair per reading, so loops end)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        self.now += 0.001
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_connecting_retries_with_backoff_from_the_first_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first attempt is made at once, then retries back off exponentially for retry_for."""
    import queuekit.client.network as network

    clock = FakeTime()
    attempts: list[float] = []

    def refuse(address: Address) -> None:
        attempts.append(clock.now)
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(network, "time", clock)
    monkeypatch.setattr(network, "Connection", refuse)
    client = NetworkClient(parse_url("redis://127.0.0.1:1?retry_for=5"))
    with pytest.raises(StoreConnectionError, match=r"tried for 5 s\): refused"):
        client.ping()
    assert attempts[0] < 1000.1  # before any back-off
    assert clock.sleeps[:5] == [0.05, 0.1, 0.2, 0.4, 0.8]
    assert set(clock.sleeps[5:]) <= {1.0}
    assert sum(clock.sleeps) <= 5
    assert len(attempts) == len(clock.sleeps) + 1
