"""The queuekit server's own /metrics (`queuekit server --metrics-port`): ServerCollector.

    endpoint = serve_server_metrics(server, host="127.0.0.1", port=9401, loop=loop)

Metrics, read from the Server object at scrape time:

    queuekit_server_commands_total{command}        commands run, by name (EXEC's inner ones too)
    queuekit_server_connected_clients              clients connected now
    queuekit_server_blocked_clients                clients waiting in a blocking command
    queuekit_server_keys                           keys in the keyspace
    queuekit_server_expiring_keys                  keys with a TTL
    queuekit_server_memory_used_bytes              the dataset's estimated size
    queuekit_server_memory_max_bytes               maxmemory (0: no limit)
    queuekit_server_expired_keys_total             keys removed because their TTL passed
    queuekit_server_evicted_keys_total             keys evicted under maxmemory
    queuekit_server_connections_received_total     connections accepted
    queuekit_server_connections_rejected_total     connections refused (maxclients)
    queuekit_server_start_time_seconds             Unix time the server started
    queuekit_build_info{version, python}

Rules:
1. The server is single-threaded: its objects are read on its own event loop
   (`loop`), never from the endpoint's thread; a loop that does not answer
   within SNAPSHOT_TIMEOUT_S (a long command) leaves the scrape with the
   build info only, never a torn reading. Without a loop (tests, a server
   that is not running) the reading is direct.
2. `command` is the one label beyond the job labels: the command table is
   fixed, so the series are bounded by it (unknown names are never counted).
3. Binds loopback by default, like the server itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from queuekit.metrics.exposition import DEFAULT_HOST, BuildInfoCollector, MetricsEndpoint

if TYPE_CHECKING:
    from queuekit.server.app import Server

log = structlog.get_logger(__name__)

SNAPSHOT_TIMEOUT_S = 5.0  # how long a scrape waits for the server's loop


@dataclass(frozen=True, slots=True)
class ServerSnapshot:
    """The server's figures, read at one moment on its loop."""

    commands: dict[str, int]
    connected_clients: int
    blocked_clients: int
    keys: int
    expiring_keys: int
    used_memory: int
    maxmemory: int
    expired_keys: int
    evicted_keys: int
    connections_received: int
    connections_rejected: int
    started_at: float


def snapshot(server: Server) -> ServerSnapshot:
    """Read `server`'s figures (call it on the server's loop: rule 1)."""
    engine = server.engine
    db = engine.db
    return ServerSnapshot(
        commands=dict(engine.command_calls),
        connected_clients=len(server.clients),
        blocked_clients=server.blocked_clients,
        keys=len(db.data),
        expiring_keys=len(db.expires),
        used_memory=db.used_memory,
        maxmemory=engine.maxmemory,
        expired_keys=db.expired_keys,
        evicted_keys=db.evicted_keys,
        connections_received=server.connections_received,
        connections_rejected=server.rejected_connections,
        started_at=server.started_at,
    )


# name, help, ServerSnapshot attribute
_GAUGES = (
    ("queuekit_server_connected_clients", "Clients connected now.", "connected_clients"),
    (
        "queuekit_server_blocked_clients",
        "Clients waiting in a blocking command (BRPOP, BLMOVE...).",
        "blocked_clients",
    ),
    ("queuekit_server_keys", "Keys in the keyspace.", "keys"),
    ("queuekit_server_expiring_keys", "Keys with a time to live.", "expiring_keys"),
    (
        "queuekit_server_memory_used_bytes",
        "Estimated bytes the dataset uses (INFO used_memory).",
        "used_memory",
    ),
    (
        "queuekit_server_memory_max_bytes",
        "The memory limit in bytes (maxmemory); 0 when there is none.",
        "maxmemory",
    ),
    ("queuekit_server_start_time_seconds", "Unix time the server started.", "started_at"),
)
_COUNTERS = (
    ("queuekit_server_expired_keys", "Keys removed because their TTL passed.", "expired_keys"),
    ("queuekit_server_evicted_keys", "Keys evicted to stay under maxmemory.", "evicted_keys"),
    (
        "queuekit_server_connections_received",
        "Client connections accepted.",
        "connections_received",
    ),
    (
        "queuekit_server_connections_rejected",
        "Client connections refused because maxclients was reached.",
        "connections_rejected",
    ),
)


class ServerCollector(Collector):
    """The server's figures at each scrape; see the module docstring."""

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.server = server
        self.loop = loop

    def _read(self) -> ServerSnapshot | None:
        """A snapshot taken on the server's loop, or None if it did not answer (rule 1)."""
        if self.loop is None:
            return snapshot(self.server)
        future: concurrent.futures.Future[ServerSnapshot] = concurrent.futures.Future()

        def take() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(snapshot(self.server))
                except Exception as error:  # handed to the scrape's thread below
                    future.set_exception(error)

        try:
            self.loop.call_soon_threadsafe(take)
            return future.result(SNAPSHOT_TIMEOUT_S)
        except (RuntimeError, concurrent.futures.TimeoutError) as error:  # closed, or busy
            future.cancel()
            log.warning("metrics_server_unanswered", error=repr(error))
            return None

    def collect(self) -> Iterator[Metric]:
        figures = self._read()
        if figures is None:
            return
        commands = CounterMetricFamily(
            "queuekit_server_commands",
            "Commands run, by name (commands inside MULTI/EXEC count one by one).",
            labels=("command",),
        )
        for name, calls in sorted(figures.commands.items()):
            commands.add_metric((name,), float(calls))
        yield commands
        for name, documentation, attribute in _GAUGES:
            yield GaugeMetricFamily(name, documentation, float(getattr(figures, attribute)))
        for name, documentation, attribute in _COUNTERS:
            yield CounterMetricFamily(name, documentation, float(getattr(figures, attribute)))


def server_registry(
    server: Server, loop: asyncio.AbstractEventLoop | None = None
) -> CollectorRegistry:
    """A registry with the server's figures and the build info."""
    registry = CollectorRegistry()
    registry.register(ServerCollector(server, loop))
    registry.register(BuildInfoCollector())
    return registry


def serve_server_metrics(
    server: Server,
    host: str = DEFAULT_HOST,
    port: int = 0,
    loop: asyncio.AbstractEventLoop | None = None,
) -> MetricsEndpoint:
    """Serve `server`'s /metrics on host:port from a thread (port 0: any free port)."""
    endpoint = MetricsEndpoint(server_registry(server, loop), host, port)
    log.info("metrics_serving", url=endpoint.url)
    return endpoint
