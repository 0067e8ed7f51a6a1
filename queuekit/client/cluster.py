"""redis+cluster:// and rediss+cluster://: clients of a Redis Cluster (or Valkey cluster).

The same surface as the other clients (`execute`, `pipeline`, typed methods)
and the same reply values: every node is reached through network.py's
connections (RESP3, one parser), picked by the slot map that redis-py's
cluster client keeps (topology.py). A buffer of commands is cut into units
(slots.py); each node gets its units in one write, and every node is written
to before any is read, so a pipeline over many slots is still one round trip.
Pipelines, transactions and WATCH are cluster_pipeline.py's.

Rules:
1. Transactions and WATCH stay inside one slot, as Redis Cluster demands
   (cluster_pipeline.py); a plain pipeline may span slots.
2. A command is sent again only when it provably did not run: when its node
   could not be reached (nothing was sent), or when the node answered MOVED,
   ASK, TRYAGAIN or CLUSTERDOWN (slots.py rule 4). A connection that breaks
   after the send raises StoreConnectionError, because the command may have
   run (network.py rule 3). redis-py's own cluster client would send it again.
3. While a slot's node cannot be reached, or the cluster answers CLUSTERDOWN
   (a primary failed and its replica is not promoted yet), the client reads
   the slot map again and retries with exponential backoff for up to
   `retry_for` seconds (30 s by default for a cluster), then raises
   StoreConnectionError (or hands back the CLUSTERDOWN reply). A failover is
   ridden out: commands wait for the promoted replica, then go to it.
4. MULTI, EXEC, DISCARD, WATCH and UNWATCH on the client itself are refused
   (UsageError): its connections are shared, as memory.py's session is.

What a failover loses: Redis replicates asynchronously, so whatever a dead
primary acknowledged but had not yet sent to its replica is gone once the
replica is promoted. For the slots of that shard, the store goes back to an
earlier moment: the replica's copy is a prefix of the primary's writes.
docs/scaling.md says what that means for jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from queuekit.client.address import Address, ClusterAddress
from queuekit.client.cluster_pipeline import (
    BROKEN,
    AsyncClusterPipeline,
    ClusterPipeline,
    connection_broke,
)
from queuekit.client.commands import Commands
from queuekit.client.encoding import encode_command
from queuekit.client.network import (
    AsyncConnection,
    AsyncConnectionPool,
    Connection,
    ConnectionPool,
    backoff_delays,
)
from queuekit.client.results import command_result
from queuekit.client.slots import (
    Argv,
    Dispatch,
    Node,
    Unit,
    command_unit,
)
from queuekit.client.topology import AsyncTopology, NodeUnreachable, Topology
from queuekit.engine.replies import Reply
from queuekit.errors import StoreConnectionError, UsageError
from queuekit.resp.encoder import encode_command as frame

SESSION_COMMANDS = frozenset({b"MULTI", b"EXEC", b"DISCARD", b"WATCH", b"UNWATCH"})


def _node_address(address: ClusterAddress, node: Node) -> Address:
    # One try per connect: between tries the client reads the slot map again.
    return replace(address.at(*node), retry_for=0.0)


def _check_open(closed: bool) -> None:
    if closed:
        raise UsageError("the client is closed")


def _refuse_session(argv: Argv) -> None:
    """Rule 4."""
    name = argv[0].upper()
    if name in SESSION_COMMANDS:
        raise UsageError(
            f"{name.decode()} through a shared cluster client would leak into every other "
            "caller: use client.pipeline(transaction=True), and pipeline.watch(...) to WATCH"
        )


def _unreachable(address: ClusterAddress, error: NodeUnreachable) -> StoreConnectionError:
    return StoreConnectionError(
        f"cannot reach {address.describe()} (tried for {address.node.retry_for:g} s): {error}"
    )


# -- synchronous ---------------------------------------------------------------


class ClusterClient(Commands):
    """A synchronous client of a Redis Cluster; share it freely across threads."""

    cluster = True

    def __init__(self, address: ClusterAddress) -> None:
        self.address = address
        self.topology = Topology(address)
        self._pools: dict[Node, ConnectionPool] = {}
        self._lock = threading.Lock()
        self._closed = False

    def execute(self, *args: Any) -> Any:
        """Run one command on the node serving its slot and return its decoded reply."""
        argv = encode_command(args)
        _refuse_session(argv)
        return command_result(self.run([command_unit(argv)])[0][0])

    def pipeline(self, transaction: bool = True) -> ClusterPipeline:
        return ClusterPipeline(self, transaction=transaction)

    def run(self, units: Sequence[Unit]) -> list[list[Reply]]:
        """Send `units` to their nodes (rules 2 and 3) and return each one's replies."""
        dispatch = Dispatch(list(units), backoff_delays(self.address.node.retry_for))
        while dispatch.pending:
            epoch = self.topology.epoch
            try:
                taken = self._connections(dispatch)
            except NodeUnreachable as error:
                self._wait(dispatch.delays, epoch, error)
                continue
            self._exchange(taken, dispatch)
            if dispatch.refresh:
                dispatch.refresh = False
                self._refresh(epoch)
            delay = dispatch.next_round()
            if delay is None:
                break
            if delay:
                time.sleep(delay)
        return dispatch.replies

    def pin(self, slot: int | None) -> tuple[Node, ConnectionPool, Connection]:
        """A connection to the node serving `slot`, for a WATCH (rule 3's retries)."""
        delays = backoff_delays(self.address.node.retry_for)
        while True:
            epoch = self.topology.epoch
            try:
                node = self.topology.primary(slot)
                pool = self._pool(node)
                return node, pool, self._acquire(node, pool)
            except NodeUnreachable as error:
                self._wait(delays, epoch, error)

    def pin_to(self, node: Node) -> tuple[ConnectionPool, Connection]:
        """A connection to `node` itself (a MOVED before anything was watched)."""
        pool = self._pool(node)
        try:
            return pool, self._acquire(node, pool)
        except NodeUnreachable as error:
            raise _unreachable(self.address, error) from None

    def refresh(self) -> None:
        """Read the slot map again soon (after a redirection under WATCH)."""
        self._refresh(self.topology.epoch)

    def _pool(self, node: Node) -> ConnectionPool:
        pool = self._pools.get(node)
        if pool is None:
            with self._lock:
                _check_open(self._closed)
                pool = self._pools.get(node)
                if pool is None:
                    pool = self._pools[node] = ConnectionPool(_node_address(self.address, node))
        return pool

    @staticmethod
    def _acquire(node: Node, pool: ConnectionPool) -> Connection:
        try:
            return pool.acquire()
        except StoreConnectionError as error:
            raise NodeUnreachable(f"{node[0]}:{node[1]}: {error}") from None

    def _connections(
        self, dispatch: Dispatch
    ) -> list[tuple[Node, ConnectionPool, Connection, list[int]]]:
        batches: dict[Node, list[int]] = {}
        for index in dispatch.pending:
            node = dispatch.routes.get(index) or self.topology.primary(dispatch.units[index].slot)
            batches.setdefault(node, []).append(index)
        taken: list[tuple[Node, ConnectionPool, Connection, list[int]]] = []
        try:
            for node, indexes in batches.items():
                pool = self._pool(node)
                taken.append((node, pool, self._acquire(node, pool), indexes))
        except BaseException:
            for _, pool, conn, _ in taken:
                pool.release(conn)
            raise
        return taken

    def _exchange(
        self, taken: list[tuple[Node, ConnectionPool, Connection, list[int]]], dispatch: Dispatch
    ) -> None:
        """Write to every node, then read every node's replies."""
        sent = [(item, dispatch.commands(item[3])) for item in taken]
        done = 0
        where = ""
        try:
            for (node, _, conn, _), commands in sent:
                where = f"{node[0]}:{node[1]}"
                conn.send(b"".join(frame(argv) for argv in commands))
            for (node, _, conn, indexes), commands in sent:
                where = f"{node[0]}:{node[1]}"
                dispatch.take(node, indexes, [conn.read() for _ in commands])
                done += 1
        except BaseException as error:
            for index, (_, pool, conn, _) in enumerate(taken):
                (pool.release if index < done else pool.discard)(conn)
            if isinstance(error, BROKEN):
                raise connection_broke(where, error) from error
            raise
        for _, pool, conn, _ in taken:
            pool.release(conn)

    def _wait(self, delays: Iterator[float], epoch: int, error: NodeUnreachable) -> None:
        """Rule 3: read the map again, then wait the next delay, or give up."""
        self._refresh(epoch)
        delay = next(delays, None)
        if delay is None:
            raise _unreachable(self.address, error)
        time.sleep(delay)

    def _refresh(self, epoch: int) -> None:
        with contextlib.suppress(NodeUnreachable):  # the next try finds out again
            self.topology.refresh(epoch)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        self.topology.close()

    def __enter__(self) -> ClusterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- asyncio --------------------------------------------------------------------


class AsyncClusterClient(Commands):
    """The asyncio twin of ClusterClient, for the tasks of one event loop."""

    cluster = True

    def __init__(self, address: ClusterAddress) -> None:
        self.address = address
        self.topology = AsyncTopology(address)
        self._pools: dict[Node, AsyncConnectionPool] = {}
        self._closed = False

    async def execute(self, *args: Any) -> Any:
        """Run one command on the node serving its slot and return its decoded reply."""
        argv = encode_command(args)
        _refuse_session(argv)
        return command_result((await self.run([command_unit(argv)]))[0][0])

    def pipeline(self, transaction: bool = True) -> AsyncClusterPipeline:
        return AsyncClusterPipeline(self, transaction=transaction)

    async def run(self, units: Sequence[Unit]) -> list[list[Reply]]:
        """Send `units` to their nodes (rules 2 and 3) and return each one's replies."""
        dispatch = Dispatch(list(units), backoff_delays(self.address.node.retry_for))
        while dispatch.pending:
            epoch = self.topology.epoch
            try:
                taken = await self._connections(dispatch)
            except NodeUnreachable as error:
                await self._wait(dispatch.delays, epoch, error)
                continue
            await self._exchange(taken, dispatch)
            if dispatch.refresh:
                dispatch.refresh = False
                await self._refresh(epoch)
            delay = dispatch.next_round()
            if delay is None:
                break
            if delay:
                await asyncio.sleep(delay)
        return dispatch.replies

    async def pin(self, slot: int | None) -> tuple[Node, AsyncConnectionPool, AsyncConnection]:
        """A connection to the node serving `slot`, for a WATCH (rule 3's retries)."""
        delays = backoff_delays(self.address.node.retry_for)
        while True:
            epoch = self.topology.epoch
            try:
                node = await self.topology.primary(slot)
                pool = self._pool(node)
                return node, pool, await self._acquire(node, pool)
            except NodeUnreachable as error:
                await self._wait(delays, epoch, error)

    async def pin_to(self, node: Node) -> tuple[AsyncConnectionPool, AsyncConnection]:
        """A connection to `node` itself (a MOVED before anything was watched)."""
        pool = self._pool(node)
        try:
            return pool, await self._acquire(node, pool)
        except NodeUnreachable as error:
            raise _unreachable(self.address, error) from None

    async def refresh(self) -> None:
        """Read the slot map again soon (after a redirection under WATCH)."""
        await self._refresh(self.topology.epoch)

    def _pool(self, node: Node) -> AsyncConnectionPool:
        pool = self._pools.get(node)
        if pool is None:
            _check_open(self._closed)
            pool = self._pools[node] = AsyncConnectionPool(_node_address(self.address, node))
        return pool

    @staticmethod
    async def _acquire(node: Node, pool: AsyncConnectionPool) -> AsyncConnection:
        try:
            return await pool.acquire()
        except StoreConnectionError as error:
            raise NodeUnreachable(f"{node[0]}:{node[1]}: {error}") from None

    async def _connections(
        self, dispatch: Dispatch
    ) -> list[tuple[Node, AsyncConnectionPool, AsyncConnection, list[int]]]:
        batches: dict[Node, list[int]] = {}
        for index in dispatch.pending:
            node = dispatch.routes.get(index)
            if node is None:
                node = await self.topology.primary(dispatch.units[index].slot)
            batches.setdefault(node, []).append(index)
        taken: list[tuple[Node, AsyncConnectionPool, AsyncConnection, list[int]]] = []
        try:
            for node, indexes in batches.items():
                pool = self._pool(node)
                taken.append((node, pool, await self._acquire(node, pool), indexes))
        except BaseException:
            for _, pool, conn, _ in taken:
                await pool.release(conn)
            raise
        return taken

    async def _exchange(
        self,
        taken: list[tuple[Node, AsyncConnectionPool, AsyncConnection, list[int]]],
        dispatch: Dispatch,
    ) -> None:
        """Write to every node, then read every node's replies."""
        sent = [(item, dispatch.commands(item[3])) for item in taken]
        done = 0
        where = ""
        try:
            for (node, _, conn, _), commands in sent:
                where = f"{node[0]}:{node[1]}"
                await conn.send(commands)
            for (node, _, conn, indexes), commands in sent:
                where = f"{node[0]}:{node[1]}"
                dispatch.take(node, indexes, await conn.receive(len(commands)))
                done += 1
        except BaseException as error:
            for index, (_, pool, conn, _) in enumerate(taken):
                await (pool.release if index < done else pool.discard)(conn)
            if isinstance(error, (*BROKEN, TimeoutError)):
                raise connection_broke(where, error) from error
            raise
        for _, pool, conn, _ in taken:
            await pool.release(conn)

    async def _wait(self, delays: Iterator[float], epoch: int, error: NodeUnreachable) -> None:
        """Rule 3: read the map again, then wait the next delay, or give up."""
        await self._refresh(epoch)
        delay = next(delays, None)
        if delay is None:
            raise _unreachable(self.address, error)
        await asyncio.sleep(delay)

    async def _refresh(self, epoch: int) -> None:
        with contextlib.suppress(NodeUnreachable):
            await self.topology.refresh(epoch)

    async def aclose(self) -> None:
        self._closed = True
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()
        await self.topology.aclose()

    async def __aenter__(self) -> AsyncClusterClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
