"""Passwords, protected mode and every limit a client could push against.

Each limit is tested by behaviour: the client that crosses it is refused or
disconnected, and the server goes on serving everyone else.
"""

from __future__ import annotations

import socket
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from queuekit.server.app import ConfigurationError, Server
from queuekit.server.config import ServerConfig
from tests.server.conftest import ServerFactory
from tests.server.rawclient import CLOSED, RESET, is_closed, ping, read_until_closed, wait_for
from tests.support import wire
from tests.support.queuekit_server import running_server
from tests.support.redis_server import RedisServer, start_redis

PASSWORD = "correct horse"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def redis_with_password() -> Iterator[RedisServer]:
    """A private redis-server that wants PASSWORD, as the oracle for pre-AUTH replies."""
    server = start_redis()
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(wire.encode_command([b"CONFIG", b"SET", b"requirepass", PASSWORD.encode()]))
        assert sock.recv(16) == b"+OK\r\n"
    try:
        yield server
    finally:
        server.stop()


# -- AUTH ---------------------------------------------------------------------------

BEFORE_AUTH = [
    [b"PING"],
    [b"GET", b"k"],
    [b"SET", b"k", b"v"],
    [b"KEYS", b"*"],
    [b"FLUSHALL"],
    [b"INFO"],
    [b"CLIENT", b"LIST"],
    [b"CONFIG", b"GET", b"*"],
    [b"SUBSCRIBE", b"c"],
    [b"PUBLISH", b"c", b"m"],
    [b"MULTI"],
    [b"EXEC"],
    [b"SELECT", b"0"],
    [b"ECHO", b"hi"],
    [b"COMMAND", b"COUNT"],
    [b"BLPOP", b"q", b"1"],
    [b"GET"],
    [b"NOSUCH", b"x"],
    [b"AUTH", b"wrong"],
    [b"AUTH", b"default", b"wrong"],
    [b"AUTH", b"someone", PASSWORD.encode()],
    [b"AUTH", b"correct"],
    [b"AUTH", PASSWORD.encode() + b" "],
    [b"AUTH", PASSWORD.upper().encode()],
    [b"AUTH", b""],
    [b"HELLO", b"2"],
    [b"HELLO", b"3", b"AUTH", b"default", b"wrong"],
    [b"GET", b"k"],
    [b"AUTH", PASSWORD.encode()],
    [b"PING"],
    [b"GET", b"k"],
]


@pytest.mark.redis
def test_every_command_before_auth_is_refused_as_redis_does(
    redis_with_password: RedisServer, server_factory: ServerFactory
) -> None:
    """NOAUTH for every command before AUTH, WRONGPASS for any wrong password, then service."""
    server = server_factory(requirepass=PASSWORD)
    replies = []
    for port in (redis_with_password.port, server.port):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            stream = sock.makefile("rb")
            answers = []
            for argv in BEFORE_AUTH:
                sock.sendall(wire.encode_command(argv))
                answers.append(wire.read_reply(stream))
            stream.close()
            replies.append(answers)
    expected, actual = replies
    assert expected[0] == ("-", "NOAUTH Authentication required.")
    assert expected[19] == ("-", "WRONGPASS invalid username-password pair or user is disabled.")
    assert actual == expected


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"*11\r\n", b"-ERR Protocol error: unauthenticated multibulk length\r\n"),
        (
            b"*2\r\n$4\r\nAUTH\r\n$16385\r\n",
            b"-ERR Protocol error: unauthenticated bulk length\r\n",
        ),
    ],
)
def test_big_frames_before_auth_are_refused(
    frame: bytes, error: bytes, server_factory: ServerFactory
) -> None:
    """Before AUTH only small frames are read: more than 10 arguments or 16 KiB is an error."""
    server = server_factory(requirepass=PASSWORD)
    with server.connect() as sock:
        sock.sendall(frame)
        assert read_until_closed(sock) == error + CLOSED
    with server.connect() as sock:  # the largest allowed argument is still read
        sock.sendall(wire.encode_command([b"AUTH", b"x" * 16384]))
        assert sock.recv(100).startswith(b"-WRONGPASS")
        sock.sendall(wire.encode_command([b"AUTH", PASSWORD.encode()]))
        assert sock.recv(100) == b"+OK\r\n"
        sock.sendall(wire.encode_command([b"MSET", *[b"k%d" % i for i in range(20)]]))
        assert sock.recv(100) == b"+OK\r\n"  # after AUTH the usual limits apply


# -- protected mode ----------------------------------------------------------------


def test_protected_mode_refuses_a_public_bind_without_password() -> None:
    """Binding beyond loopback with no password fails with a message that says how to fix it."""
    server = Server(ServerConfig(bind="0.0.0.0", port=0))
    with pytest.raises(ConfigurationError) as raised:
        server.check_protected_mode()
    message = str(raised.value)
    assert "0.0.0.0" in message
    assert "--requirepass" in message and "127.0.0.1" in message
    assert "--protected-mode no" in message
    with pytest.raises(ConfigurationError), running_server(bind="0.0.0.0"):
        pass  # serve() refuses before it listens


@pytest.mark.parametrize(
    "settings",
    [{"protected_mode": False}, {"requirepass": PASSWORD}],
    ids=["protected-mode-off", "with-password"],
)
def test_public_bind_is_allowed_when_told_or_guarded(settings: dict[str, object]) -> None:
    """With protected mode off, or a password, it starts on 0.0.0.0 (checked, then stopped)."""
    with (
        running_server(bind="0.0.0.0", **settings) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock,
    ):
        sock.sendall(b"PING\r\n")
        assert sock.recv(64) in (b"+PONG\r\n", b"-NOAUTH Authentication required.\r\n")


# -- maxclients ------------------------------------------------------------------------


def test_maxclients_refuses_the_next_connection(server_factory: ServerFactory) -> None:
    """With maxclients=2 a third connection gets Redis's error and is closed; the two go on."""
    server = server_factory(maxclients=2)
    with server.connect() as first, server.connect() as second:
        for sock in (first, second):
            sock.sendall(b"PING\r\n")
            assert sock.recv(16) == b"+PONG\r\n"
        with server.connect() as third:
            assert read_until_closed(third) == b"-ERR max number of clients reached\r\n" + CLOSED
        second.sendall(b"PING\r\n")
        assert second.recv(16) == b"+PONG\r\n"
    wait_for(lambda: server.client_count() == 0, "both clients to leave")
    assert ping(server.port) == b"+PONG\r\n"
    assert server.call(lambda: server.server.rejected_connections) == 1


# -- idle timeout ------------------------------------------------------------------------


def test_idle_clients_are_closed_but_blocked_and_subscribed_ones_are_not(
    server_factory: ServerFactory,
) -> None:
    """timeout=1 closes a client idle past it; a blocked or a subscribed client stays."""
    server = server_factory(timeout=1)
    with server.connect() as idle, server.connect() as blocked, server.connect() as listener:
        blocked.sendall(b"BLPOP wake-me 0\r\n")
        listener.sendall(b"SUBSCRIBE news\r\n")
        assert listener.recv(64).startswith(b"*3\r\n$9\r\nsubscribe")
        wait_for(lambda: server.blocked_count() == 1, "BLPOP to block")
        assert is_closed(idle, timeout=15)
        time.sleep(1.5)  # well past the timeout for the other two as well
        with server.connect() as pusher:
            pusher.sendall(b"RPUSH wake-me x\r\nPUBLISH news hi\r\n")
            assert pusher.recv(64) == b":1\r\n:1\r\n"
        blocked.settimeout(15)
        assert blocked.recv(64) == b"*2\r\n$7\r\nwake-me\r\n$1\r\nx\r\n"
        listener.settimeout(15)
        assert listener.recv(64) == b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"


# -- output and query buffers ---------------------------------------------------------


def _small_receive_buffer_connection(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    return sock


@pytest.mark.parametrize("appendonly", [False, True], ids=["in memory", "replies held for the AOF"])
def test_a_client_that_does_not_read_is_cut_off_at_the_output_limit(
    server_factory: ServerFactory, tmp_path: Path, appendonly: bool
) -> None:
    """200 pipelined GETs of a 1 MB value, never read, disconnect the client at a 1 MB limit.

    The server's memory stays near the limit meanwhile: the replies are not
    all built before the limit is checked, nor all held for the release point.
    """
    persistence: dict[str, Any] = {}
    if appendonly:
        persistence = {"data_dir": str(tmp_path), "appendonly": True, "save": ()}
    server = server_factory(output_buffer_limit=MiB, **persistence)
    with server.connect() as writer:
        writer.sendall(wire.encode_command([b"SET", b"big", b"x" * MiB]))
        assert writer.recv(16) == b"+OK\r\n"
    greedy = _small_receive_buffer_connection(server.port)
    wait_for(lambda: server.client_count() == 1, "only the greedy client to be connected")
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        greedy.sendall(b"GET big\r\n" * 200)
        wait_for(lambda: server.client_count() == 0, "the greedy client to be cut off")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
        greedy.close()
    assert peak < 32 * MiB, f"the server held {peak / MiB:.0f} MiB of replies"
    assert ping(server.port) == b"+PONG\r\n"


def test_a_client_over_the_query_buffer_limit_is_disconnected(
    server_factory: ServerFactory,
) -> None:
    """Unparsed input past query_buffer_limit (an endless argument) drops that client only."""
    server = server_factory(query_buffer_limit=MiB)
    with server.connect() as bystander, server.connect() as flooder:
        flooder.sendall(b"*2\r\n$4\r\nECHO\r\n$100000000\r\n")
        chunk = b"y" * 65536
        try:
            for _ in range(64):  # 4 MiB, well past the limit
                flooder.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # cut off while still sending: what the test wants
        assert is_closed(flooder)
        bystander.sendall(b"PING\r\n")
        assert bystander.recv(16) == b"+PONG\r\n"
    wait_for(lambda: server.client_count() == 0, "the clients to leave")


def test_a_blocked_client_cannot_pile_up_input_either(server_factory: ServerFactory) -> None:
    """Input sent behind a blocking command counts against the query buffer limit too."""
    server = server_factory(query_buffer_limit=MiB)
    with server.connect() as sock:
        sock.sendall(b"BLPOP nothing 0\r\n")
        wait_for(lambda: server.blocked_count() == 1, "BLPOP to block")
        try:
            for _ in range(64):
                sock.sendall(b"PING\r\n" * 10000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert read_until_closed(sock) in (CLOSED, RESET)
    wait_for(lambda: server.client_count() == 0, "the client to be dropped")
    assert server.blocked_count() == 0
