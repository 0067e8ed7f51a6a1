"""The `store` fixture: every job test runs on memory://, a queuekit server, redis-server
and a Redis Cluster (3 primaries, 3 replicas).

A `Store` bundles a fresh, empty store and what tests need around it: a
sync client, a way to make an async client, the URL (None for memory://),
and the FakeClock that both the memory:// engine and the job clients read
(network stores keep their own time; the producer's clock is still fake, so
due times are exact).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from queuekit.client.memory import AsyncMemoryClient, MemoryClient, MemoryStore
from queuekit.connect import connect, connect_async
from queuekit.engine.clock import FakeClock
from queuekit.jobs import AsyncJobClient, JobClient, TaskSet
from tests.support.queuekit_server import RunningServer, running_server
from tests.support.redis_cluster import LocalCluster
from tests.support.redis_server import RedisServer
from tests.support.wire import encode_command

STORES = ["memory", "queuekit", "redis", "cluster"]


@dataclass
class Store:
    """One empty store under test and the clients to reach it."""

    kind: str
    client: Any
    clock: FakeClock
    url: str | None = None
    memory: MemoryStore | None = None
    cluster: LocalCluster | None = None

    def async_client(self) -> Any:
        """A new async client of the same store (make it inside the event loop)."""
        if self.memory is not None:
            return AsyncMemoryClient(self.memory)
        return connect_async(self.url)

    def jobs(self, tasks: TaskSet | None = None, **options: Any) -> JobClient:
        return JobClient(self.client, tasks=tasks, clock=self.clock, **options)

    def async_jobs(self, client: Any, tasks: TaskSet | None = None) -> AsyncJobClient:
        return AsyncJobClient(client, tasks=tasks, clock=self.clock)

    def keys(self) -> list[bytes]:
        if self.cluster is not None:  # KEYS answers for one node of a cluster
            return self.cluster.keys()
        return sorted(self.client.execute(b"KEYS", b"*"))

    def flushall(self) -> None:
        """Empty the store, as a restart without persistence would."""
        if self.cluster is not None:  # FLUSHALL answers for one node of a cluster
            self.cluster.flushall()
        else:
            self.client.execute(b"FLUSHALL")

    def run(self, coroutine: Any) -> Any:
        return asyncio.run(coroutine)


@pytest.fixture(scope="session")
def jobs_server() -> Iterator[RunningServer]:
    """A queuekit server for the whole session (emptied per test by `store`)."""
    with running_server() as server:
        yield server


def _flushall(host: str, port: int) -> None:
    with socket.create_connection((host, port), 30) as sock:
        sock.sendall(encode_command([b"FLUSHALL"]))
        assert sock.recv(16) == b"+OK\r\n"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty store of each kind: memory://, the queuekit server, redis-server, a cluster."""
    clock = FakeClock()
    if request.param == "memory":
        memory = MemoryStore(clock=clock)
        try:
            yield Store("memory", MemoryClient(memory), clock, memory=memory)
        finally:
            memory.close()
        return
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        cluster.flushall()
        client = connect(cluster.url)
        try:
            yield Store("cluster", client, clock, url=cluster.url, cluster=cluster)
        finally:
            client.close()
        return
    if request.param == "queuekit":
        server: RunningServer | RedisServer = request.getfixturevalue("jobs_server")
    else:
        server = request.getfixturevalue("redis_server")
    _flushall(server.host, server.port)
    url = f"redis://{server.host}:{server.port}/0"
    client = connect(url)
    try:
        yield Store(request.param, client, clock, url=url)
    finally:
        client.close()


@pytest.fixture
def network_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty network store (parametrize indirectly with 'queuekit', 'redis'
    or 'cluster')."""
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        cluster.flushall()
        return cluster.url
    if request.param == "queuekit":
        server: RunningServer | RedisServer = request.getfixturevalue("jobs_server")
    else:
        server = request.getfixturevalue("redis_server")
    _flushall(server.host, server.port)
    return f"redis://{server.host}:{server.port}/0"
