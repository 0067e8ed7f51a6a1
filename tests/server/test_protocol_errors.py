"""Broken frames get Redis's exact error and close only their own connection."""

from __future__ import annotations

import socket

import pytest

from tests.server.rawclient import CLOSED, ping, read_until_closed
from tests.support.queuekit_server import RunningServer
from tests.support.redis_server import RedisServer

INLINE_MAX = 64 * 1024  # Redis's PROTO_INLINE_MAX_SIZE

# Each input is exactly what the error needs, so the server has read all of it
# when it hangs up (unread input would turn its FIN into a reset).
MALFORMED = {
    "bad bulk length": b"*2\r\n$3\r\nGET\r\n$x\r\n",
    "negative bulk length": b"*1\r\n$-5\r\n",
    "bulk length with a leading zero": b"*1\r\n$01\r\nx\r\n",
    "bulk over proto-max-bulk-len": b"*2\r\n$4\r\nECHO\r\n$600000000\r\n",
    "bad multibulk length": b"*x\r\n",
    "multibulk length with a plus": b"*+1\r\n",
    "multibulk length over INT_MAX": b"*3000000000\r\n",
    "no dollar": b"*1\r\n:4\r\n",
    "good commands then no dollar": b"PING\r\nSET a 1\r\n*1\r\n:4\r\n",
    "unbalanced double quote": b'SET "a b\r\n',
    "quote glued to a word": b"SET a 'b'c\r\n",
    "inline too big": b"A" * (INLINE_MAX + 1),
    "multibulk count too big": b"*" + b"1" * INLINE_MAX,
    "bulk count too big": b"*1\r\n$" + b"1" * INLINE_MAX,
}


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


@pytest.mark.redis
@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_broken_frame_gets_redis_error_and_close(
    data: bytes, queuekit_server: RunningServer, redis_server: RedisServer
) -> None:
    """The replies, the error and the hang-up are byte for byte Redis's."""
    expected = _exchange(redis_server.port, data)
    assert expected.endswith(CLOSED) and b"-ERR Protocol error: " in expected
    assert _exchange(queuekit_server.port, data) == expected


def test_a_broken_frame_closes_only_its_own_connection(queuekit_server: RunningServer) -> None:
    """Another client's connection, open throughout, keeps being served."""
    with queuekit_server.connect() as bystander:
        bystander.sendall(b"SET kept 1\r\n")
        assert bystander.recv(16) == b"+OK\r\n"
        for data in MALFORMED.values():
            reply = _exchange(queuekit_server.port, data)
            assert reply.endswith(CLOSED)
            bystander.sendall(b"GET kept\r\n")
            assert bystander.recv(16) == b"$1\r\n1\r\n"
    assert ping(queuekit_server.port) == b"+PONG\r\n"


def test_error_after_a_blocked_command_comes_once_it_is_served(
    queuekit_server: RunningServer,
) -> None:
    """A broken frame behind a blocking pop is answered after the pop's reply, then closed."""
    reply = _exchange(queuekit_server.port, b"BLPOP nothing 0.2\r\n*1\r\n:4\r\n")
    assert reply == b"*-1\r\n-ERR Protocol error: expected '$', got ':'\r\n" + CLOSED


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"NOSUCH", "-ERR unknown command 'NOSUCH', with args beginning with: "),
        (b"nosuch a b", "-ERR unknown command 'nosuch', with args beginning with: 'a' 'b' "),
        (b"GET", "-ERR wrong number of arguments for 'get' command"),
        (b"get a b", "-ERR wrong number of arguments for 'get' command"),
        (b"LPUSH q", "-ERR wrong number of arguments for 'lpush' command"),
        (b"CLIENT", "-ERR wrong number of arguments for 'client' command"),
    ],
)
def test_unknown_commands_and_wrong_arity(
    line: bytes, error: str, queuekit_server: RunningServer
) -> None:
    """Unknown commands and wrong argument counts get Redis's words; the connection stays."""
    with queuekit_server.connect() as sock:
        sock.sendall(line + b"\r\nPING\r\n")
        expected = error.encode() + b"\r\n+PONG\r\n"
        received = b""
        while len(received) < len(expected):
            received += sock.recv(4096)
        assert received == expected
