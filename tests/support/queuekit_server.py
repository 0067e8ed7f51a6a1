"""Run a queuekit server in a background thread for tests that talk to it over sockets.

    with running_server(requirepass="secret", maxclients=2) as server:
        redis.Redis(port=server.port, password="secret").ping()
        server.call(lambda: len(server.server.clients))   # read state on its own loop

The server runs on its own event loop in a thread (anyio's blocking portal),
on 127.0.0.1 and a port the OS picks, so blocking socket clients in the test
thread (redis-py, raw sockets, subprocesses such as redis-cli) can talk to it.
Anything that touches the server's objects goes through `call`, which runs
on the server's loop: the server is single-threaded and stays so.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from queuekit.server.app import Listening, Server
from queuekit.server.config import ServerConfig

T = TypeVar("T")

STOP_TIMEOUT_S = 30.0
# A unix socket path must fit in 108 bytes: keep it out of pytest's long tmp paths.
SOCKET_NAME = "queuekit.sock"


@dataclass
class RunningServer:
    """A started server and the portal that reaches its event loop."""

    server: Server
    listening: Listening
    portal: BlockingPortal

    @property
    def host(self) -> str:
        return self.listening.host

    @property
    def port(self) -> int:
        return self.listening.port

    @property
    def unixsocket(self) -> str | None:
        return self.listening.unixsocket

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def call(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func(*args)` on the server's loop and return its result."""
        return self.portal.call(func, *args)

    def client_count(self) -> int:
        return self.call(lambda: len(self.server.clients))

    def blocked_count(self) -> int:
        return self.call(lambda: self.server.blocked_clients)

    def connect(self, timeout: float = 30.0) -> socket.socket:
        """A raw TCP socket to the server (for byte-level tests)."""
        return socket.create_connection((self.host, self.port), timeout=timeout)


def server_config(**overrides: Any) -> ServerConfig:
    """A test configuration: loopback, a free port, and the given settings."""
    settings: dict[str, Any] = {"bind": "127.0.0.1", "port": 0}
    settings.update(overrides)
    return ServerConfig(**settings)


@contextlib.contextmanager
def running_server(*, unix: bool = False, **overrides: Any) -> Iterator[RunningServer]:
    """Start a server with `overrides` (ServerConfig fields); stop it on exit.

    `unix=True` also listens on a unix socket in a fresh temporary folder.
    """
    workdir = tempfile.mkdtemp(prefix="qk-") if unix else None
    if workdir is not None:
        overrides.setdefault("unixsocket", f"{workdir}/{SOCKET_NAME}")
    try:
        with (
            start_blocking_portal("asyncio") as portal,
            serving(portal, server_config(**overrides)) as running,
        ):
            yield running
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def serving(portal: BlockingPortal, config: ServerConfig) -> Iterator[RunningServer]:
    """Run one server on an existing portal's loop until the block ends."""
    server = portal.call(Server, config)
    future, listening = portal.start_task(server.serve)
    try:
        yield RunningServer(server, listening, portal)
    finally:
        portal.call(server.stop)
        future.result(STOP_TIMEOUT_S)
