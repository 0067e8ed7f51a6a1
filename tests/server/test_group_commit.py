"""Replies wait for the end of the event-loop pass (connection.py rule 5):
every client's replies are written after all the pass's reads, and with an
append-only file (group commit) the writes of every client read in the pass
reach the file in one write and, under `always`, one fsync, before any of
those clients gets its reply.

The server runs on a portal thread. To put many clients' commands in one
pass deterministically, the test holds the server's loop in a callback,
sends on every socket (loopback delivers at once), then lets the loop go:
its next poll finds every socket readable.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import ServerFactory
from tests.server.rawclient import CLOSED, read_until_closed
from tests.support.queuekit_server import RunningServer
from tests.support.wire import encode_command

CLIENTS = 20
WAIT_S = 30.0


@contextmanager
def loop_held(server: RunningServer) -> Iterator[None]:
    """The server's event loop is stuck in a callback until the block ends."""
    entered, leave = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        leave.wait(WAIT_S)

    holder = threading.Thread(target=server.call, args=(hold,))
    holder.start()
    assert entered.wait(WAIT_S)
    try:
        yield
    finally:
        leave.set()
        holder.join(WAIT_S)


def connected_clients(server: RunningServer, stack: ExitStack) -> list[socket.socket]:
    socks = [stack.enter_context(server.connect()) for _ in range(CLIENTS)]
    for sock in socks:  # every connection accepted before the loop is held
        sock.sendall(encode_command([b"PING"]))
        assert sock.recv(16) == b"+PONG\r\n"
    return socks


def fsyncs(server: RunningServer) -> int:
    def read() -> int:
        aof = server.server.aof
        assert aof is not None
        return aof.fsyncs

    return server.call(read)


def test_one_fsync_covers_every_client_of_a_pass_under_always(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory(data_dir=str(tmp_path), appendonly=True, appendfsync="always", save=())
    with ExitStack() as stack:
        socks = connected_clients(server, stack)
        before = fsyncs(server)
        with loop_held(server):
            for number, sock in enumerate(socks):
                sock.sendall(encode_command([b"RPUSH", b"pushed", b"%d" % number]))
        replies = sorted(int(sock.recv(16)[1:-2]) for sock in socks)
        assert replies == list(range(1, CLIENTS + 1))
        assert fsyncs(server) - before == 1
        # Every acknowledged push is in the file the fsync covered.
        aof = server.server.aof
        assert aof is not None and aof.synced_size == aof.size
        written = b"".join(path.read_bytes() for path in (tmp_path / "appendonlydir").iterdir())
        assert written.count(b"$6\r\npushed\r\n") == CLIENTS


def test_one_release_writes_the_replies_of_every_client_of_a_pass(
    server_factory: ServerFactory,
) -> None:
    server = server_factory()  # no append-only file: replies are held all the same
    released: list[int] = []

    def count_release(real: Any = server.server._release_held) -> None:
        released.append(len(server.server._holding))
        real()

    server.call(lambda: setattr(server.server, "_release_held", count_release))
    with ExitStack() as stack:
        socks = connected_clients(server, stack)
        released.clear()
        with loop_held(server):
            for number, sock in enumerate(socks):
                sock.sendall(encode_command([b"RPUSH", b"pushed", b"%d" % number]))
        replies = sorted(int(sock.recv(16)[1:-2]) for sock in socks)
        assert replies == list(range(1, CLIENTS + 1))
    assert released == [CLIENTS]


@pytest.mark.parametrize("appendonly", [True, False])
def test_a_hang_up_waits_for_the_held_replies(
    server_factory: ServerFactory, tmp_path: Path, appendonly: bool
) -> None:
    """QUIT's, and a protocol error's, hang-up comes after the replies held before it."""
    server = server_factory(
        data_dir=str(tmp_path), appendonly=appendonly, appendfsync="always", save=()
    )
    with ExitStack() as stack:
        quitter, broken = (stack.enter_context(server.connect()) for _ in range(2))
        quitter.sendall(encode_command([b"INCR", b"n"]) + encode_command([b"QUIT"]))
        broken.sendall(encode_command([b"INCR", b"n"]) + b"*1\r\n?\r\n")
        replies = {read_until_closed(quitter), read_until_closed(broken)}
        assert replies == {
            b":1\r\n+OK\r\n" + CLOSED,
            b":2\r\n-ERR Protocol error: expected '$', got '?'\r\n" + CLOSED,
        } or replies == {
            b":2\r\n+OK\r\n" + CLOSED,
            b":1\r\n-ERR Protocol error: expected '$', got '?'\r\n" + CLOSED,
        }
