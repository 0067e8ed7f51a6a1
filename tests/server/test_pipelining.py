"""Pipelines are answered whole and in order; blocked clients are served first come first."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.server.rawclient import wait_for
from tests.support import wire
from tests.support.queuekit_server import RunningServer
from tests.support.redis_server import RedisServer

WAITERS = 50


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"the server closed after {len(data)} of {size} bytes"
        data += chunk
    return data


def test_a_pipeline_of_1000_commands_gets_1000_replies_in_order(
    queuekit_server: RunningServer,
) -> None:
    """1,000 commands sent in one write come back as 1,000 replies, in order."""
    commands = []
    expected = []
    counter = pushed = 0
    for i in range(1000):
        if i % 4 == 0:
            pushed += 1
            commands.append([b"RPUSH", b"log", b"%d" % i])
            expected.append(b":%d\r\n" % pushed)
        elif i % 4 == 3:
            commands.append([b"GET", b"counter"])
            expected.append(b"$%d\r\n%d\r\n" % (len(str(counter)), counter))
        else:
            counter += 1
            commands.append([b"INCR", b"counter"])
            expected.append(b":%d\r\n" % counter)
    payload = b"".join(wire.encode_command(argv) for argv in commands)
    expected_bytes = b"".join(expected)
    with queuekit_server.connect() as sock:
        sock.sendall(payload)
        assert _read_exactly(sock, len(expected_bytes)) == expected_bytes
        sock.sendall(b"LLEN log\r\n")
        assert sock.recv(16) == b":250\r\n"


def test_inline_and_multibulk_commands_mix_in_one_pipeline(queuekit_server: RunningServer) -> None:
    """Inline and multibulk commands in one write are answered in order."""
    with queuekit_server.connect() as sock:
        sock.sendall(b"SET a 1\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\nGET a\r\n\r\nPING\r\n")
        expected = b"+OK\r\n:2\r\n$1\r\n2\r\n+PONG\r\n"
        assert _read_exactly(sock, len(expected)) == expected


@pytest.fixture(params=["queuekit", "redis"])
def any_server(
    request: pytest.FixtureRequest, queuekit_server: RunningServer
) -> Iterator[tuple[str, int]]:
    """The queuekit server, and redis-server to prove the expectation is Redis's."""
    if request.param == "queuekit":
        yield ("queuekit", queuekit_server.port)
    else:
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        yield ("redis", redis_server.port)


def _blocked_clients(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"INFO clients\r\n")
        _, text = wire.read_reply(stream)
        stream.close()
    for line in text.decode().splitlines():
        if line.startswith("blocked_clients:"):
            return int(line.split(":")[1])
    raise AssertionError(f"INFO clients has no blocked_clients: {text!r}")


@pytest.mark.redis
def test_blocked_clients_are_served_in_the_order_they_blocked(
    any_server: tuple[str, int],
) -> None:
    """50 clients parked in BRPOP on one key get the 50 pushed items in the order they blocked."""
    _, port = any_server
    waiters: list[socket.socket] = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as admin:
            admin.sendall(b"DEL fair\r\n")
            admin.recv(16)
            for index in range(WAITERS):
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                waiters.append(sock)
                sock.sendall(b"BRPOP fair 0\r\n")
                wait_for(lambda n=index + 1: _blocked_clients(port) == n, f"waiter {index} to park")
            # LPUSH puts item 0 at the tail, where BRPOP takes from: waiter i gets item i.
            admin.sendall(
                wire.encode_command([b"LPUSH", b"fair", *[b"%d" % i for i in range(WAITERS)]])
            )
            assert admin.recv(16) == b":%d\r\n" % WAITERS
            got = []
            for sock in waiters:
                stream = sock.makefile("rb")
                _, (key, item) = wire.read_reply(stream)
                stream.close()
                assert key == ("$", b"fair")
                got.append(int(item[1]))
            assert got == list(range(WAITERS))
            admin.sendall(b"LLEN fair\r\n")
            assert admin.recv(16) == b":0\r\n"
    finally:
        for sock in waiters:
            sock.close()
