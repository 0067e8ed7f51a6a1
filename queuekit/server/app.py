"""The queuekit server: the engine behind TCP and unix-socket listeners.

Everything runs on one event-loop thread, so every command and every
MULTI/EXEC is atomic, as on Redis. anyio gives the structure: `serve()` runs
the listeners and the background cycle in one task group and reports the
bound port through `task_status`, so tests start servers on port 0; asyncio
Protocols carry the bytes (see connection.py for why).

Background work, `hz` times a second: the engine's active expiry cycle,
closing clients idle past `timeout` (never blocked or subscribed ones, as on
Redis), the append-only file's everysec fsync, and the persistence child:
`server.child` is the one forked child (a BGSAVE's or a rewrite's), polled
here; its owner's `on_done` runs once it has ended.

Snapshots (snapshots.py): with appendonly off, DIR/dump.qkdb is loaded
before listening; SAVE, BGSAVE and the save points write it, and a clean
stop writes it once more when save points are set.

Persistence (`appendonly`): before listening, the multi-part AOF in
DIR/appendonlydir is replayed, base then incr files (persistence.aofdir; a
corrupt file stops the start-up, untouched); then every write is propagated
into the last incr file. BGREWRITEAOF and the automatic rewrite compact it
(aofrewrite.py). `release()` is the release point: connections hold their
replies (`hold_replies`, always, as Redis writes them in beforeSleep) until
it has run, once per event-loop pass for all of them (group commit), so no
client hears of a write the file does not hold (fsynced too, under
`always`). A write or fsync that fails under `always` stops the server
without sending those replies, as Redis exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import structlog
from anyio.abc import TaskStatus

from queuekit.engine.commands.transactions import unwatch_all
from queuekit.engine.engine import Engine
from queuekit.errors import PersistenceError
from queuekit.persistence import fork
from queuekit.persistence.aof import AppendOnlyFile
from queuekit.persistence.aofdir import AofDirectory, open_aof
from queuekit.persistence.fork import ChildResult, ForkedChild
from queuekit.persistence.lockfile import lock_directory
from queuekit.persistence.propagate import Propagation
from queuekit.server import aofrewrite, commands, introspection, snapshots
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
        self.engine.register(
            commands.COMMANDS + introspection.COMMANDS + aofrewrite.COMMANDS + snapshots.COMMANDS
        )
        self.clients: dict[int, Connection] = {}
        self.pubsub = PubSub()
        self.started_at = time.time()
        self.connections_received = 0
        self.rejected_connections = 0
        self.listening: Listening | None = None
        self.event_loop = ""  # the running loop's package, once serving
        self.aof: AppendOnlyFile | None = None  # None: no persistence, the hot path's test
        self.aof_dir: AofDirectory | None = None  # the files `aof` is the last of
        self._holding: list[Connection] = []  # clients whose replies wait for release()
        self.rewriter = aofrewrite.AofRewriter(self)
        self.snapshots = snapshots.Snapshots(self)
        self._propagation: Propagation | None = None
        self.failure: PersistenceError | None = None  # why the server stopped itself
        # The one persistence child, BGSAVE's or BGREWRITEAOF's (fork.py rule 1),
        # and what its owner wants done when the cron finds it has ended.
        self.child: ForkedChild | None = None
        self._dir_lock: int | None = None  # the data directory's lock file (lockfile.py)
        self._child_done: Callable[[ChildResult], None] | None = None
        self.latest_fork_usec = 0  # how long the last fork held the event loop
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
        """Load the AOF's files, then log every write to its last incr (appendonly only).

        A pre-7 DIR/appendonly.aof is first moved in as the base. Raises
        CorruptFileError or CorruptManifestError, naming the file and offset
        or line, and leaves the files as they were; PersistenceError if they
        cannot be read or opened.
        """
        data_dir = self.config.data_dir
        if data_dir is None or self._dir_lock is not None:  # nothing to open, or open (run())
            return
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        # One writer per directory, an in-process store (memory://?dir=) included.
        self._dir_lock = lock_directory(Path(data_dir))
        try:
            self._open_files(data_dir)
        except BaseException:
            self._unlock_data_dir()
            raise

    def _open_files(self, data_dir: str) -> None:
        self.snapshots.load()  # appendonly off: DIR/dump.qkdb is the dataset
        if not self.config.appendonly:
            return
        # Attached before the load, so the keys it finds expired are logged as DELs.
        propagation = Propagation(self.engine)
        propagation.attach()
        try:
            directory, report = open_aof(data_dir, self.engine, self.config.appendfsync)
        except PersistenceError:
            propagation.detach()
            raise
        aof = directory.incr
        assert aof is not None  # open_aof opened it
        if report is not None:
            log.info(
                "aof_loaded",
                files=[Path(part.path).name for part in report.files],
                commands=report.commands,
                truncated_at=report.truncated_at,
                expired_keys=report.expired_keys,
                error_replies=report.error_replies,
            )
        aof.append(propagation.take())
        aof.flush()
        self.aof, self.aof_dir, self._propagation = aof, directory, propagation

    def hold_replies(self, conn: Connection) -> None:
        """`conn` has replies waiting for the release point: run it after this pass.

        A callback scheduled now runs after every client read in this pass of
        the event loop and before the next pass's reads, like Redis's
        beforeSleep: every client's replies are written after all the pass's
        reads, and with an append-only file one file write (and one fsync
        under `always`) covers every client's commands of the pass first.
        """
        if not self._holding:
            asyncio.get_running_loop().call_soon(self._release_held)
        self._holding.append(conn)

    def _release_held(self) -> None:
        holding, self._holding = self._holding, []
        released = self.release()
        for conn in holding:
            conn.release_held(released)

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

    def close_persistence(self) -> None:
        """Stop the child, close the AOF, take the shutdown snapshot, let the directory go."""
        try:
            self.kill_child()  # as Redis's shutdown: a half-written file is of no use
            self._close_persistence()
            self.snapshots.shutdown()
        finally:
            self._unlock_data_dir()

    def _unlock_data_dir(self) -> None:
        lock, self._dir_lock = self._dir_lock, None
        if lock is not None:
            os.close(lock)

    def _close_persistence(self) -> None:
        aof, self.aof = self.aof, None
        if aof is None:
            return
        if self._propagation is not None:
            aof.append(self._propagation.take())
            self._propagation.detach()
        aof.close()  # writes what is left and fsyncs, whatever the policy
        log.info("aof_closed", path=aof.path, bytes=aof.size)

    # -- the persistence child ------------------------------------------------

    def start_child(
        self, name: str, work: fork.Work, on_done: Callable[[ChildResult], None]
    ) -> ForkedChild:
        """Fork the persistence child to run `work` (fork.py); the cron calls
        `on_done(result)` once it has ended. The caller checks that the slot
        is free (each owner answers a busy slot with its own Redis error).

        Raises OSError if the fork fails.
        """
        if self.child is not None:
            raise RuntimeError(f"the {self.child.name} child {self.child.pid} still runs")
        started = time.perf_counter()
        child = fork.start(work, name=name)
        self.latest_fork_usec = int((time.perf_counter() - started) * 1e6)
        self.child, self._child_done = child, on_done
        log.info("child_started", name=name, pid=child.pid, fork_usec=self.latest_fork_usec)
        return child

    def poll_child(self) -> None:
        """Hand the child's result to its owner once it has ended (the cron calls this)."""
        child = self.child
        if child is not None and (result := child.poll()) is not None:
            self._child_ended(result)

    def kill_child(self) -> None:
        """SIGKILL the child, if one runs, and tell its owner (shutdown)."""
        if self.child is not None:
            self._child_ended(self.child.kill())

    def _child_ended(self, result: ChildResult) -> None:
        on_done = self._child_done
        self.child = self._child_done = None
        if on_done is not None:
            on_done(result)

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
            self.close_persistence()  # after every client is gone: nothing writes now

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
        self.snapshots.count_from_now()  # what was loaded is on disk: no change yet
        self.event_loop = type(loop).__module__.partition(".")[0]  # "asyncio" or "uvloop"
        log.info(
            "server_ready",
            bind=config.bind,
            port=port,
            unixsocket=config.unixsocket,
            event_loop=self.event_loop,
        )
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

    @property
    def stopping(self) -> bool:
        """`stop()` was called: the server is on its way out."""
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    async def _background(self) -> None:
        while True:
            period = 1 / self.config.hz
            await anyio.sleep(period)
            self.engine.db.active_expire_cycle(period * EXPIRE_BUDGET_SHARE)
            self._close_idle_clients()
            self.poll_child()
            self.rewriter.cron()
            self.snapshots.cron()
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
        self.snapshots.refresh_write_gate()  # save points or stop-writes may have changed


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
