"""Connection and server commands answer byte for byte like Redis 7.0, edge cases included.

Each line below is sent inline on one connection to the queuekit server and
on one to a private redis-server, in RESP2 and in RESP3; the replies, read
with the independent reader in tests/support/wire.py, must be equal. Only
commands whose reply does not depend on the server (versions, ids,
addresses, limits of the machine) are listed.
"""

from __future__ import annotations

import socket
from typing import BinaryIO

import pytest

from tests.support import wire
from tests.support.queuekit_server import RunningServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

LINES = [
    # CLIENT
    "CLIENT",
    "CLIENT FOO",
    "CLIENT SETNAME",
    "CLIENT GETNAME x",
    "CLIENT ID x",
    "CLIENT INFO x",
    "CLIENT KILL",
    "CLIENT LIST foo",
    "CLIENT LIST TYPE foo",
    "CLIENT LIST ID abc",
    "CLIENT LIST ID 0",
    "CLIENT KILL ID abc",
    "CLIENT KILL ID 0",
    "CLIENT KILL ID 99999999",
    "CLIENT KILL 1.2.3.4:5",
    "CLIENT KILL 1.2.3.4:5 x",
    "CLIENT KILL foo bar",
    "CLIENT KILL SKIPME maybe",
    "CLIENT NO-EVICT maybe",
    "CLIENT NO-EVICT on",
    'CLIENT SETNAME "two words"',
    "CLIENT GETNAME",
    "CLIENT SETNAME tour",
    "CLIENT GETNAME",
    'CLIENT SETNAME ""',
    "CLIENT GETNAME",
    # CONFIG (never a successful SET: the Redis is shared by the session)
    "CONFIG",
    "CONFIG FOO",
    "CONFIG GET",
    "CONFIG GET nosuch",
    "CONFIG SET timeout",
    "CONFIG SET timeout 1 maxclients",
    "CONFIG SET nosuch 1",
    "CONFIG RESETSTAT x",
    # PUBSUB and friends
    "PUBSUB",
    "PUBSUB FOO",
    "PUBSUB NUMPAT",
    "PUBSUB NUMPAT x",
    "PUBSUB CHANNELS",
    "PUBSUB CHANNELS a b",
    "PUBSUB NUMSUB",
    "PUBSUB NUMSUB a b",
    "PUBLISH ch",
    "PUBLISH nobody-listens msg",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    # COMMAND
    "COMMAND FOO",
    "COMMAND COUNT x",
    "COMMAND INFO nosuch",
    "COMMAND DOCS nosuch",
    # HELLO, AUTH, SELECT, PING, ECHO, RESET
    "HELLO 4",
    "HELLO x",
    "HELLO 3 foo",
    "HELLO 3 AUTH",
    "HELLO 3 SETNAME",
    "AUTH x",
    "AUTH a b c",
    "AUTH default anything",
    "SELECT 0",
    "SELECT x",
    "SELECT -1",
    "ECHO",
    "PING a b",
    "PING",
    "PING hello",
    "RESET x",
    # unknown commands and arity, as the dispatcher words them
    "NOSUCH a b",
    "GET",
    "SET k",
]


def _session(port: int, resp: int) -> tuple[socket.socket, BinaryIO]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    stream = sock.makefile("rb")
    if resp == 3:
        sock.sendall(b"HELLO 3\r\n")
        wire.read_reply(stream)
    return sock, stream


@pytest.mark.parametrize("resp", [2, 3])
def test_connection_commands_answer_like_redis(
    resp: int, queuekit_server: RunningServer, redis_server: RedisServer
) -> None:
    """Every line gets the same reply from the queuekit server as from redis-server."""
    mismatches = []
    sides = [_session(redis_server.port, resp), _session(queuekit_server.port, resp)]
    try:
        for line in LINES:
            replies = []
            for sock, stream in sides:
                sock.sendall(line.encode() + b"\r\n")
                replies.append(wire.read_reply(stream))
            if replies[0] != replies[1]:
                mismatches.append(f"{line}: redis {replies[0]!r} != queuekit {replies[1]!r}")
    finally:
        for sock, stream in sides:
            stream.close()
            sock.close()
    assert not mismatches, "\n".join(mismatches)
