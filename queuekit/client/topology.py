"""A Redis Cluster's slot map, kept by redis-py's cluster clients: which node serves a slot.

redis-py (the optional extra `queuekit[cluster]`) discovers the cluster from
the nodes a URL names (CLUSTER SLOTS), keeps the map and refreshes it, with
redis.cluster.RedisCluster for sync clients and redis.asyncio.cluster's for
asyncio ones. The commands themselves travel on queuekit's connections
(cluster.py), so replies are exactly what the other clients return.

Rules:
1. redis-py is imported when the first cluster client is made, never when
   queuekit is imported; without it the error names the extra to install.
2. The map is first read at the first command, not when the client is made,
   as a network client connects at its first command.
3. A refresh asks the nodes again. Callers that fail at once refresh once:
   each passes the `epoch` it routed with, and a refresh finished since then
   is not repeated.
4. Every way of not knowing a slot's node (no node reachable, the slot not
   covered while a failover runs) is NodeUnreachable; callers wait and retry.
"""

from __future__ import annotations

import asyncio
import random
import threading
from types import ModuleType
from typing import Any

from queuekit.client.address import ClusterAddress
from queuekit.client.slots import Node
from queuekit.errors import UsageError


class NodeUnreachable(Exception):
    """Raised inside the cluster client when a slot's node cannot be found or reached;
    nothing was sent. The client retries; it never lets this escape."""


def _redis() -> ModuleType:
    """redis-py, or an error naming the extra (rule 1)."""
    try:
        import redis
        import redis.asyncio.cluster
        import redis.cluster
    except ImportError as error:
        raise UsageError(
            "redis+cluster:// needs redis-py, the cluster extra: pip install 'queuekit[cluster]'"
        ) from error
    return redis


def _options(address: ClusterAddress) -> dict[str, Any]:
    """redis-py's settings for its own connections, which only read the slot map."""
    node = address.node
    options: dict[str, Any] = {
        # Some slots are unserved while a failover runs: the map is still useful.
        "require_full_coverage": False,
        "username": node.username,
        "password": node.password,
        "socket_connect_timeout": node.connect_timeout,
        "socket_timeout": node.connect_timeout,
    }
    if node.tls:
        options.update(ssl=True, ssl_cert_reqs=node.ssl_cert_reqs, ssl_ca_certs=node.ssl_ca_certs)
    return options


def _lookup(redis: ModuleType, cluster: Any, slot: int | None) -> Node:
    try:
        if slot is None:
            node = random.choice(cluster.get_primaries())
        else:
            node = cluster.nodes_manager.get_node_from_slot(slot)
    except (IndexError, redis.exceptions.SlotNotCoveredError) as error:
        raise NodeUnreachable(f"no node serves slot {slot} yet: {error}") from None
    return str(node.host), int(node.port)


def _unreachable(address: ClusterAddress, error: Exception) -> NodeUnreachable:
    return NodeUnreachable(f"cannot read the slot map of {address.describe()}: {error}")


class Topology:
    """The slot map for sync clients; safe to share between threads."""

    def __init__(self, address: ClusterAddress) -> None:
        self.address = address
        self.epoch = 0  # refreshes done (rule 3)
        self._redis = _redis()
        self._cluster: Any = None
        self._lock = threading.Lock()

    def primary(self, slot: int | None) -> Node:
        """The node serving `slot` (any primary for None)."""
        if self._cluster is None:
            self.refresh(self.epoch)
        return _lookup(self._redis, self._cluster, slot)

    def refresh(self, epoch: int) -> None:
        """Read the map again, unless a refresh finished since `epoch` (rule 3)."""
        with self._lock:
            if epoch != self.epoch and self._cluster is not None:
                return
            redis = self._redis
            try:
                if self._cluster is None:
                    startup = [
                        redis.cluster.ClusterNode(host, port) for host, port in self.address.nodes
                    ]
                    self._cluster = redis.cluster.RedisCluster(
                        startup_nodes=startup, **_options(self.address)
                    )
                else:
                    self._cluster.nodes_manager.initialize()
            except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as error:
                raise _unreachable(self.address, error) from None
            self.epoch += 1

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()


class AsyncTopology:
    """The slot map for asyncio clients; shared by the tasks of one event loop."""

    def __init__(self, address: ClusterAddress) -> None:
        self.address = address
        self.epoch = 0
        self._redis = _redis()
        self._cluster: Any = None
        self._lock = asyncio.Lock()

    async def primary(self, slot: int | None) -> Node:
        """The node serving `slot` (any primary for None)."""
        if self._cluster is None:
            await self.refresh(self.epoch)
        return _lookup(self._redis, self._cluster, slot)

    async def refresh(self, epoch: int) -> None:
        """Read the map again, unless a refresh finished since `epoch` (rule 3)."""
        async with self._lock:
            if epoch != self.epoch and self._cluster is not None:
                return
            redis = self._redis
            try:
                if self._cluster is None:
                    startup = [
                        redis.asyncio.cluster.ClusterNode(host, port)
                        for host, port in self.address.nodes
                    ]
                    cluster = redis.asyncio.cluster.RedisCluster(
                        startup_nodes=startup, **_options(self.address)
                    )
                    await cluster.initialize()
                    self._cluster = cluster
                else:
                    await self._cluster.nodes_manager.initialize()
            except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as error:
                raise _unreachable(self.address, error) from None
            self.epoch += 1

    async def aclose(self) -> None:
        if self._cluster is not None:
            await self._cluster.aclose()
