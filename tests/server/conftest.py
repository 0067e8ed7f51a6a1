"""Fixtures for tests that talk to a queuekit server over sockets.

`queuekit_server` is one server for the whole session, emptied before each
test that asks for it; `server_factory(...)` starts a server with its own
settings (requirepass, maxclients, timeout, limits, a unix socket...) and
stops it when the test ends.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.queuekit_server import RunningServer, running_server
from tests.support.wire import encode_command

ServerFactory = Callable[..., RunningServer]


@pytest.fixture(scope="session")
def session_server() -> Iterator[RunningServer]:
    """The session's shared server with default settings."""
    with running_server() as server:
        yield server


@pytest.fixture
def queuekit_server(session_server: RunningServer) -> RunningServer:
    """The shared server, with an empty keyspace."""
    with socket.create_connection((session_server.host, session_server.port), 30) as sock:
        sock.sendall(encode_command([b"FLUSHALL"]))
        assert sock.recv(16) == b"+OK\r\n"
    return session_server


@pytest.fixture
def server_factory() -> Iterator[ServerFactory]:
    """Start servers with custom settings; each stops when the test ends."""
    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> RunningServer:
            return stack.enter_context(running_server(**overrides))

        yield start
