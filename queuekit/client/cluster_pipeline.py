"""The pipelines of the cluster clients (cluster.py): buffered commands, MULTI/EXEC
inside one slot, and WATCH on a connection pinned to the watched slot's node.

Rules:
1. `pipeline(transaction=True)` sends its buffer as one MULTI ... EXEC on
   the node of its slot; keys of two slots are refused with CROSSSLOT before
   anything is sent. A plain pipeline may span slots, and its inline
   MULTI ... EXEC blocks each go whole to their slot's node (slots.py).
2. `watch(...)` pins a connection to the node of the watched slot; every
   command until EXEC runs on it and must stay in that slot.
3. Before anything is watched, a MOVED reply moves the pin to the node named.
   Once keys are watched, a redirection means the slot moved: WatchError,
   and a txn plan starts again on the new node. A read answered TRYAGAIN or
   CLUSTERDOWN is asked again after a backoff wait (the WATCH holds); an EXEC
   answered so raises WatchError, since EXEC ends the WATCH.
4. A connection that breaks raises StoreConnectionError and is dropped; a
   pipeline whose block ends still watching sends UNWATCH before it lends
   the connection back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from queuekit.client.commands import Commands
from queuekit.client.encoding import encode_command
from queuekit.client.network import backoff_delays
from queuekit.client.results import command_result, pipeline_results, transaction_replies
from queuekit.client.slots import (
    CROSSSLOT,
    WAITING,
    Argv,
    Node,
    Unit,
    command_unit,
    pipeline_units,
    redirect,
    transaction_unit,
)
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import Reply
from queuekit.errors import StoreConnectionError, UsageError, WatchError, response_error
from queuekit.resp.errors import ProtocolError

if TYPE_CHECKING:
    from queuekit.client.cluster import AsyncClusterClient, ClusterClient

BROKEN = (OSError, ProtocolError)  # a connection that failed after the send


def connection_broke(where: str, error: BaseException) -> StoreConnectionError:
    """The error for a connection that broke after a send (cluster.py rule 2)."""
    return StoreConnectionError(
        f"connection to {where} broke: {error}; the command may or may not have run"
    )


@dataclass
class _Pinned:
    """The connection a WATCH holds, and the slot it watches."""

    slot: int | None
    node: Node
    pool: Any  # ConnectionPool or AsyncConnectionPool
    conn: Any  # Connection or AsyncConnection
    watching: bool = False  # a WATCH succeeded and no EXEC/UNWATCH ended it

    @property
    def where(self) -> str:
        return f"{self.node[0]}:{self.node[1]}"

    def check(self, commands: Sequence[Argv]) -> None:
        """Rule 2: what runs on this connection stays in its slot."""
        inner = commands[1:-1] if commands[0] == (b"MULTI",) else commands
        for argv in inner:
            unit = command_unit(argv)
            if unit.refused is not None:
                raise response_error(unit.refused.message)
            if unit.slot is not None and unit.slot != self.slot:
                raise response_error(
                    f"{CROSSSLOT} (watching slot {self.slot}, this touches slot {unit.slot})"
                )

    def settle(self, commands: Sequence[Argv], replies: list[Reply]) -> None:
        """Track whether the connection still watches keys."""
        for argv, reply in zip(commands, replies, strict=True):
            name = argv[0].upper()
            if name == b"WATCH" and not isinstance(reply, CommandError):
                self.watching = True
            elif name in (b"EXEC", b"UNWATCH", b"DISCARD"):
                self.watching = False

    def moved(self, kind: str, node: Node | None) -> Node:
        """Rule 3: where a redirected WATCH goes, or WatchError once keys are watched."""
        if self.watching or node is None:
            raise WatchError(f"{kind} while watching slot {self.slot}; nothing ran")
        return node


class _Pipeline(Commands):
    """What the sync and async cluster pipelines share: the buffer, the pinned
    connection of a WATCH, and the checks made before anything is sent."""

    def __init__(self, *, transaction: bool) -> None:
        self.transaction = transaction
        self._buffer: list[Argv] = []
        self._pinned: _Pinned | None = None
        self._immediate = False

    def _watch_unit(self, keys: Sequence[Any]) -> Unit:
        if self._buffer:
            raise UsageError("call watch() before buffering commands in a pipeline")
        unit = command_unit(encode_command((b"WATCH", *keys)))
        if unit.refused is not None:
            raise response_error(unit.refused.message)
        return unit

    @staticmethod
    def _transaction_unit(commands: list[Argv]) -> Unit:
        unit = transaction_unit(commands)
        if unit.refused is not None:
            raise response_error(unit.refused.message)
        return unit

    def multi(self) -> None:
        if not self._immediate:
            raise UsageError("multi() follows watch(); a plain pipeline buffers already")
        self._immediate = False

    def __len__(self) -> int:
        return len(self._buffer)


class ClusterPipeline(_Pipeline):
    """Buffered commands, sent per node in one write; MULTI/EXEC around them if
    `transaction` (one slot). `watch(...)` pins a connection to the watched
    slot's node and runs commands at once until `multi()` (rule 2)."""

    def __init__(self, client: ClusterClient, *, transaction: bool) -> None:
        super().__init__(transaction=transaction)
        self.client = client

    def execute_command(self, *args: Any) -> Any:
        argv = encode_command(args)
        if self._immediate:
            return command_result(self._pinned_call([argv], again=True)[0])
        self._buffer.append(argv)
        return self

    def watch(self, *keys: Any) -> None:
        unit = self._watch_unit(keys)
        if self._pinned is None:
            self._pinned = _Pinned(unit.slot, *self.client.pin(unit.slot))
        self._immediate = True
        command_result(self._pinned_call(list(unit.commands), again=True)[0])

    def unwatch(self) -> None:
        if self._pinned is not None:
            self._pinned_call([(b"UNWATCH",)], again=True)

    def _pinned_call(self, commands: list[Argv], *, again: bool) -> list[Reply]:
        """Commands on the pinned connection (rule 3); `again`: a TRYAGAIN or
        CLUSTERDOWN reply is waited out and the commands sent again."""
        pinned = self._pinned
        assert pinned is not None
        pinned.check(commands)
        delays = backoff_delays(self.client.address.node.retry_for)
        while True:
            try:
                replies: list[Reply] = pinned.conn.call_many(commands)
            except BROKEN as error:
                self._pinned = None
                pinned.pool.discard(pinned.conn)
                raise connection_broke(pinned.where, error) from error
            moved = redirect(replies)
            if moved is None:
                pinned.settle(commands, replies)
                return replies
            if moved.kind in WAITING and again:
                delay = next(delays, None)
                if delay is None:
                    return replies
                time.sleep(delay)
                continue
            self.client.refresh()
            node = pinned.moved(moved.kind, moved.node)
            pinned.pool.release(pinned.conn)  # nothing watched yet: follow the MOVED
            pinned.node, (pinned.pool, pinned.conn) = node, self.client.pin_to(node)

    def execute(self, *args: Any, raise_on_error: bool = True) -> Any:
        """With arguments, buffer one command; without, run the buffer and return the replies."""
        if args:
            return self.execute_command(*args)
        commands, self._buffer = self._buffer, []
        self._immediate = False
        try:
            if self.transaction:
                replies = self._transaction(commands)
            elif commands:
                units = self.client.run(pipeline_units(commands))
                replies = [reply for unit in units for reply in unit]
            else:
                replies = []
        finally:
            self._unpin()
        return pipeline_results(replies, raise_on_error=raise_on_error)

    def _transaction(self, commands: list[Argv]) -> list[Reply]:
        if not commands:
            return []
        unit = self._transaction_unit(commands)
        if self._pinned is not None:
            replies = self._pinned_call(list(unit.commands), again=False)
        else:
            replies = self.client.run([unit])[0]
        return transaction_replies(commands, replies[1:-1], replies[-1])

    def _unpin(self) -> None:
        pinned, self._pinned = self._pinned, None
        if pinned is None:
            return
        if pinned.watching:
            try:
                pinned.conn.call_many([(b"UNWATCH",)])
            except BROKEN:
                pinned.pool.discard(pinned.conn)
                return
        pinned.pool.release(pinned.conn)

    def reset(self) -> None:
        """Forget the buffer and any WATCH; the pipeline can be used again."""
        self._buffer.clear()
        self._immediate = False
        self._unpin()

    def __enter__(self) -> ClusterPipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.reset()


class AsyncClusterPipeline(_Pipeline):
    """ClusterPipeline for asyncio: buffering calls stay plain and return the
    pipeline; `watch`, `unwatch`, `execute`, `reset` and commands between
    `watch` and `multi` are awaited."""

    def __init__(self, client: AsyncClusterClient, *, transaction: bool) -> None:
        super().__init__(transaction=transaction)
        self.client = client

    def execute_command(self, *args: Any) -> Any:
        argv = encode_command(args)
        if self._immediate:
            return self._immediate_call(argv)
        self._buffer.append(argv)
        return self

    async def _immediate_call(self, argv: Argv) -> Any:
        return command_result((await self._pinned_call([argv], again=True))[0])

    async def watch(self, *keys: Any) -> None:
        unit = self._watch_unit(keys)
        if self._pinned is None:
            self._pinned = _Pinned(unit.slot, *(await self.client.pin(unit.slot)))
        command_result((await self._pinned_call(list(unit.commands), again=True))[0])
        self._immediate = True

    async def unwatch(self) -> None:
        if self._pinned is not None:
            await self._pinned_call([(b"UNWATCH",)], again=True)

    async def _pinned_call(self, commands: list[Argv], *, again: bool) -> list[Reply]:
        """ClusterPipeline._pinned_call for asyncio."""
        pinned = self._pinned
        assert pinned is not None
        pinned.check(commands)
        delays = backoff_delays(self.client.address.node.retry_for)
        while True:
            try:
                replies: list[Reply] = await pinned.conn.call_many(commands)
            except BaseException as error:
                self._pinned = None
                await pinned.pool.discard(pinned.conn)
                if isinstance(error, (*BROKEN, TimeoutError)):
                    raise connection_broke(pinned.where, error) from error
                raise
            moved = redirect(replies)
            if moved is None:
                pinned.settle(commands, replies)
                return replies
            if moved.kind in WAITING and again:
                delay = next(delays, None)
                if delay is None:
                    return replies
                await asyncio.sleep(delay)
                continue
            await self.client.refresh()
            node = pinned.moved(moved.kind, moved.node)
            await pinned.pool.release(pinned.conn)
            pinned.node, (pinned.pool, pinned.conn) = node, await self.client.pin_to(node)

    async def execute(self, *args: Any, raise_on_error: bool = True) -> Any:
        """With arguments, buffer one command (or run it, after `watch`);
        without, run the buffer and return the replies."""
        if args:
            result = self.execute_command(*args)
            return result if result is self else await result
        commands, self._buffer = self._buffer, []
        self._immediate = False
        try:
            if self.transaction:
                replies = await self._transaction(commands)
            elif commands:
                units = await self.client.run(pipeline_units(commands))
                replies = [reply for unit in units for reply in unit]
            else:
                replies = []
        finally:
            await self._unpin()
        return pipeline_results(replies, raise_on_error=raise_on_error)

    async def _transaction(self, commands: list[Argv]) -> list[Reply]:
        if not commands:
            return []
        unit = self._transaction_unit(commands)
        if self._pinned is not None:
            replies = await self._pinned_call(list(unit.commands), again=False)
        else:
            replies = (await self.client.run([unit]))[0]
        return transaction_replies(commands, replies[1:-1], replies[-1])

    async def _unpin(self) -> None:
        pinned, self._pinned = self._pinned, None
        if pinned is None:
            return
        if pinned.watching:
            try:
                await pinned.conn.call_many([(b"UNWATCH",)])
            except BaseException as error:
                await pinned.pool.discard(pinned.conn)
                if isinstance(error, (*BROKEN, TimeoutError)):
                    return
                raise
        await pinned.pool.release(pinned.conn)

    async def reset(self) -> None:
        """Forget the buffer and any WATCH; the pipeline can be used again."""
        self._buffer.clear()
        self._immediate = False
        await self._unpin()

    async def __aenter__(self) -> AsyncClusterPipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.reset()
