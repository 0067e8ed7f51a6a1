"""The queuekit server: the engine behind TCP and unix-socket listeners.

Everything runs on one event-loop thread, so every command and every
MULTI/EXEC is atomic, as on Redis. anyio gives the structure: `serve()` runs
the listeners and the background cycle in one task group and reports the
bound port through `task_status`, so tests start servers on port 0; asyncio
Protocols carry the bytes (see connection.py for why).

Background work, `hz` times a second: the engine's active expiry cycle,
closing clients idle past `timeout` (never blocked or subscribed ones, as on
Redis), and the append-only file's everysec fsync.

Persistence (`appendonly`): before listening, DIR/appendonly.aof is replayed
(a corrupt file stops the start-up, untouched); then every write is
propagated into it. `release()` is the release point: connections call it
before writing replies, so no client hears of a write the file does not hold
(fsynced too, under `always`). A write or fsync that fails under `always`
stops the server without sending those replies, as Redis exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import structlog
from anyio.abc import TaskStatus

from queuekit.engine.commands.transactions import unwatch_all
from queuekit.engine.engine import Engine
from queuekit.errors import PersistenceError
from queuekit.persistence.aof import AppendOnlyFile
from queuekit.persistence.loader import load
from queuekit.persistence.propagate import Propagation
from queuekit.server import commands, introspection
from queuekit.server.config import ServerConfig
from queuekit.server.connection import Connection
from queuekit.server.pubsub import PubSub

if TYPE_CHECKING:
    from queuekit.metrics.exposition import MetricsEndpoint

log = structlog.get_logger(__name__)

EXPIRE_BUDGET_SHARE = 0.25  # of each background tick, like Redis's slow cycle


class ConfigurationError(Exception):
    """Raised when the settings cannot be used as given; the message says how to fix them."""


@dataclass(frozen=True, slots=True)
class Listening:
    """Where a started server accepts clients."""

    host: str
    port: int
    unixsocket: str | None
    metrics_port: int | None = None  # where /metrics is served, when it is


class Server:
    def __init__(self, config: ServerConfig | None = None, engine: Engine | None = None) -> None:
        self.config = config or ServerConfig()
        self.engine = engine or Engine(
            maxmemory=self.config.maxmemory, maxmemory_policy=self.config.maxmemory_policy
        )
        self.engine.register(commands.COMMANDS + introspection.COMMANDS)
        if self.engine.command_calls is None:  # counted for the metrics' commands by name
            self.engine.command_calls = {}
        self.clients: dict[int, Connection] = {}
        self.pubsub = PubSub()
        self.started_at = time.time()
        self.connections_received = 0
        self.rejected_connections = 0
        self.listening: Listening | None = None
        self.aof: AppendOnlyFile | None = None  # None: no persistence, the hot path's test
        self._propagation: Propagation | None = None
        self.failure: PersistenceError | None = None  # why the server stopped itself
        self._stop = anyio.Event()

    # -- clients -------------------------------------------------------------

    def admit(self, conn: Connection) -> bool:
        """Register a new connection; False if maxclients is reached."""
        self.connections_received += 1
        if len(self.clients) >= self.config.maxclients:
            self.rejected_connections += 1
            return False
        self.clients[conn.session.id] = conn
        return True

    def forget(self, conn: Connection) -> None:
        if self.clients.pop(conn.session.id, None) is not None:
            unwatch_all(self.engine, conn.session)
            self.pubsub.forget(conn)

    @property
    def blocked_clients(self) -> int:
        return sum(1 for conn in self.clients.values() if conn.blocked is not None)

    # -- persistence ---------------------------------------------------------

    def open_persistence(self) -> None:
        """Load the append-only file, then log every write to it (appendonly only).

        Raises CorruptFileError, naming the file and offset, and leaves the
        file as it was; PersistenceError if it cannot be read or opened.
        """
        path = self.config.aof_path
        if path is None or self.aof is not None:  # off, or already open (run())
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Attached before the load, so the keys it finds expired are logged as DELs.
        propagation = Propagation(self.engine)
        propagation.attach()
        if path.exists():
            try:
                report = load(path, self.engine)
            except PersistenceError:
                propagation.detach()
                raise
            log.info(
                "aof_loaded",
                path=str(path),
                commands=report.commands,
                bytes=report.valid_bytes,
                truncated_at=report.truncated_at,
                expired_keys=report.expired_keys,
                error_replies=report.error_replies,
            )
            if report.truncated_at is not None:
                _drop_truncated_tail(str(path), report.valid_bytes, report.file_bytes)
        self._propagation = propagation
        self.aof = AppendOnlyFile(path, self.config.appendfsync)
        self.aof.append(propagation.take())
        self.aof.flush()

    def release(self) -> bool:
        """Put the writes run so far in the file (the release point); False if it failed.

        On failure under `always` the server stops: the replies waiting on
        these writes must never be sent.
        """
        aof, propagation = self.aof, self._propagation
        if aof is None or propagation is None or self.failure is not None:
            return self.failure is None
        try:
            aof.append(propagation.take())
            aof.flush()
        except PersistenceError as error:
            log.critical("aof_write_failed_stopping", error=str(error))
            self.failure = error
            for conn in list(self.clients.values()):
                conn.abort()
            self.stop()
            return False
        return True

    def _close_persistence(self) -> None:
        aof, self.aof = self.aof, None
        if aof is None:
            return
        if self._propagation is not None:
            aof.append(self._propagation.take())
            self._propagation.detach()
        aof.close()  # writes what is left and fsyncs (unless the policy is `no`)
        log.info("aof_closed", path=aof.path, bytes=aof.size)

    # -- running -------------------------------------------------------------

    def check_protected_mode(self) -> None:
        """Refuse to listen beyond loopback with no password, unless told to."""
        config = self.config
        if not config.protected_mode or config.requirepass is not None:
            return
        if not _is_loopback(config.bind):
            raise ConfigurationError(
                f"refusing to listen on {config.bind} without a password (protected mode). "
                "Set a password with --requirepass or QUEUEKIT_REQUIREPASS_FILE, bind to "
                "127.0.0.1, or turn protected mode off with --protected-mode no if a "
                "firewall already guards the port."
            )

    async def serve(
        self, *, task_status: TaskStatus[Listening] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen until `stop()`; reports where through `task_status`."""
        self.check_protected_mode()
        self.open_persistence()
        try:
            await self._serve_clients(task_status)
        finally:
            self._close_persistence()  # after every client is gone: nothing writes now

    async def _serve_clients(self, task_status: TaskStatus[Listening]) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        listeners: list[asyncio.Server] = []
        tcp = await loop.create_server(
            lambda: Connection(self, "tcp"),
            config.bind,
            config.port,
            backlog=511,
            reuse_address=True,
        )
        listeners.append(tcp)
        port = tcp.sockets[0].getsockname()[1]
        if config.unixsocket:
            _remove_stale_socket(config.unixsocket)
            unix = await loop.create_unix_server(
                lambda: Connection(self, "unix"), config.unixsocket
            )
            os.chmod(config.unixsocket, config.unixsocketperm)
            listeners.append(unix)
        metrics = self._serve_metrics(loop)
        self.listening = Listening(
            config.bind, port, config.unixsocket, metrics.port if metrics else None
        )
        log.info("server_ready", bind=config.bind, port=port, unixsocket=config.unixsocket)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._background)
                task_status.started(self.listening)
                await self._stop.wait()
                tasks.cancel_scope.cancel()
        finally:
            if metrics is not None:
                metrics.close()
            for listener in listeners:
                listener.close()
            for conn in list(self.clients.values()):
                conn.abort()
            if config.unixsocket:
                _remove_stale_socket(config.unixsocket)
            log.info("server_stopped")

    def _serve_metrics(self, loop: asyncio.AbstractEventLoop) -> MetricsEndpoint | None:
        """The /metrics endpoint's thread, when `metrics_port` asks for one."""
        if self.config.metrics_port is None:
            return None
        # Imported here: prometheus_client costs every CLI start ~50 ms otherwise.
        from queuekit.metrics.server import serve_server_metrics

        return serve_server_metrics(self, self.config.metrics_bind, self.config.metrics_port, loop)

    def stop(self) -> None:
        self._stop.set()

    async def _background(self) -> None:
        while True:
            period = 1 / self.config.hz
            await anyio.sleep(period)
            self.engine.db.active_expire_cycle(period * EXPIRE_BUDGET_SHARE)
            self._close_idle_clients()
            if self.aof is not None and self.release():  # the expiry cycle's DELs
                self.aof.cron()

    def _close_idle_clients(self) -> None:
        timeout = self.config.timeout
        if not timeout:
            return
        for conn in list(self.clients.values()):
            exempt = conn.blocked is not None or conn.channels or conn.patterns
            if not exempt and conn.idle_seconds > timeout:
                log.info("client_idle_timeout", client=conn.address, idle_s=int(conn.idle_seconds))
                conn.close()

    def apply_config(self, config: ServerConfig) -> None:
        """Switch to new settings at run time (CONFIG SET)."""
        self.engine.configure_memory(config.maxmemory, config.maxmemory_policy)
        self.config = config


def _drop_truncated_tail(path: str, valid_bytes: int, file_bytes: int) -> None:
    """Cut the incomplete last command the load dropped, as Redis does.

    New writes are appended at the end: left in place, that half command
    would sit in the middle of the file and make the next start-up refuse
    it as corrupt. Under `always` it was never acknowledged (a reply waits
    for its whole command to be on disk); under everysec or no it is part of
    the loss those policies document for a power cut. The cut bytes are kept
    in `<path>.truncated-<offset>`: nothing is removed behind the user's back.
    """
    kept = f"{path}.truncated-{valid_bytes}"
    with open(path, "rb") as source, open(kept, "wb") as side:
        source.seek(valid_bytes)
        side.write(source.read())
    os.truncate(path, valid_bytes)
    log.warning(
        "aof_truncated_tail_removed",
        path=path,
        offset=valid_bytes,
        dropped_bytes=file_bytes - valid_bytes,
        kept_in=kept,
    )


def _remove_stale_socket(path: str) -> None:
    """A socket file left by a previous run would make the bind fail."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def run(config: ServerConfig) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly (the CLI's entry)."""
    server = Server(config)
    # The refusals to start come first, outside the task group, which would
    # wrap them in an ExceptionGroup the CLI cannot report in one line.
    server.check_protected_mode()
    server.open_persistence()
    async with anyio.create_task_group() as tasks:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.info("server_signal", signal=signal.Signals(signum).name)
                    server.stop()
                    return

        tasks.start_soon(stop_on_signal)
        await server.serve()
        tasks.cancel_scope.cancel()
    if server.failure is not None:
        raise server.failure
