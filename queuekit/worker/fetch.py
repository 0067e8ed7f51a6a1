"""Taking jobs off the ready lists: at most as many as the worker can start now.

A worker's sources are its queues' level lists in strict priority order: the
queues as given, levels 0, 1, 2 within each. Every fetch returns jobs of one
source, oldest first, at most `count` of them.

At-most-once (the default): one `BLMPOP timeout n <sources> RIGHT COUNT count`
takes up to `count` payloads from the first non-empty source, blocking while
all are empty. The payloads exist only in this process from then on, until
the start round trip records them in flight (one round trip later): a process
killed in between loses them without a record. That window is documented
(docs/semantics.md); every loss after it is counted by the reaper.

At-least-once (per queue): payloads move with LMOVE into the worker's
processing list for that queue, atomically, so a crash at any moment leaves
them there for the reaper. Redis has no multi-source blocking move, so a
fetch tries the sources in order without blocking (up to `count` LMOVEs of
the first non-empty source, pipelined; a run of at-most-once sources still
takes one LMPOP), and when all are empty waits with BLMOVE on the first
reliable queue's default level, for at most POLL_S: jobs there
wake the worker at once, jobs anywhere else are seen within that time.

On a Redis Cluster (`client.cluster`), queues live in different slots, and
one command cannot pop from two of them. A worker of several queues then
looks at its queues one at a time, in order: an LMPOP over one queue's
levels (or its LMOVEs, at-least-once) per round trip, the first non-empty
queue wins; when all are empty it waits on the first queue only (BLMPOP or,
with an at-least-once queue, the BLMOVE above), for at most POLL_S, so a
job arriving in another queue is seen within that time. Priority holds for
the jobs present when it looks; the batch a flush fetches in its round trip
(`piggyback`) comes from the first queue only.

A fetch is never cancelled while it waits: its reply could carry popped
jobs. Waits are bounded by the caller's timeout instead (runtime.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from queuekit.jobs.keys import DEFAULT_PRIORITY, queue_keys

POLL_S = 0.1  # longest an idle worker waits on one list (or queue) before it looks again


@dataclass(frozen=True, slots=True)
class Source:
    """One ready list, and how it is fetched."""

    queue: str
    key: bytes
    level: int  # priority level, 0 = high
    reliable: bool
    destination: bytes | None  # the processing list, when reliable


@dataclass(frozen=True, slots=True)
class Batch:
    """Payloads fetched from one source, oldest first."""

    source: Source
    payloads: list[bytes]


def sources(queues: Sequence[str], reliable: Callable[[str], bool], worker_id: str) -> list[Source]:
    """The sources of `queues` in strict priority order."""
    found = []
    for queue in queues:
        qkeys = queue_keys(queue)
        is_reliable = reliable(queue)
        destination = qkeys.processing(worker_id) if is_reliable else None
        found += [
            Source(queue, key, level, is_reliable, destination)
            for level, key in enumerate(qkeys.ready)
        ]
    return found


def _groups(all_sources: list[Source], split: bool) -> list[list[Source]]:
    """Runs of consecutive at-most-once sources (of one queue, when `split`), and
    each reliable source alone."""
    groups: list[list[Source]] = []
    for source in all_sources:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and not source.reliable
            and not last.reliable
            and not (split and source.queue != last.queue)
        ):
            groups[-1].append(source)
        else:
            groups.append([source])
    return groups


class Fetcher:
    """Fetches batches from a fixed list of sources (module docstring); `split`:
    the queues live in different slots of a cluster."""

    def __init__(self, all_sources: list[Source], *, split: bool = False) -> None:
        self.sources = all_sources
        self._by_key = {source.key: source for source in all_sources}
        self._groups = _groups(all_sources, split)
        self._any_reliable = any(source.reliable for source in all_sources)
        reliable = [source for source in all_sources if source.reliable]
        default_level = [source for source in reliable if source.level == DEFAULT_PRIORITY]
        self._wait_on = next(iter(default_level + reliable), None)

    async def fetch(self, client: Any, count: int, timeout_s: float) -> Batch | None:
        """Up to `count` payloads of the first non-empty source, waiting up to
        `timeout_s` while all are empty; None if none came."""
        if len(self._groups) == 1 and not self._any_reliable:
            return await self._pop(client, self.sources, count, timeout_s)
        for group in self._groups:
            if group[0].reliable:
                batch = await self._move(client, group[0], count)
            else:
                batch = await self._pop(client, group, count, None)
            if batch is not None:
                return batch
        if self._any_reliable:
            return await self._wait(client, timeout_s)
        return await self._pop(client, self._groups[0], count, min(timeout_s, POLL_S))

    def piggyback(self, count: int) -> tuple[Any, ...] | None:
        """A non-blocking LMPOP of up to `count` over the sources (the first queue's,
        when split), to send with other commands; None with at-least-once sources."""
        if self._any_reliable or count <= 0:
            return None
        keys = [source.key for source in self._groups[0]]
        return (b"LMPOP", len(keys), *keys, b"RIGHT", b"COUNT", count)

    def batch(self, reply: Any) -> Batch | None:
        """The batch an (B)LMPOP reply holds, if any."""
        if not isinstance(reply, list):
            return None  # nil, or an error reply (logged by the caller's writes)
        key, payloads = reply
        return Batch(self._by_key[key], list(payloads))

    async def _pop(
        self, client: Any, group: list[Source], count: int, timeout_s: float | None
    ) -> Batch | None:
        keys = [source.key for source in group]
        if timeout_s is None:
            reply = await client.execute(b"LMPOP", len(keys), *keys, b"RIGHT", b"COUNT", count)
        else:
            command = (b"BLMPOP", timeout_s, len(keys), *keys, b"RIGHT", b"COUNT", count)
            reply = await client.execute(*command)
        return self.batch(reply)

    async def _move(self, client: Any, source: Source, count: int) -> Batch | None:
        pipe = client.pipeline(transaction=False)
        for _ in range(count):
            pipe.execute_command(b"LMOVE", source.key, source.destination, b"RIGHT", b"LEFT")
        payloads = [payload for payload in await pipe.execute() if payload is not None]
        return Batch(source, payloads) if payloads else None

    async def _wait(self, client: Any, timeout_s: float) -> Batch | None:
        source = self._wait_on
        assert source is not None and source.destination is not None
        wait = min(timeout_s, POLL_S)
        command = (b"BLMOVE", source.key, source.destination, b"RIGHT", b"LEFT", wait)
        payload = await client.execute(*command)
        return Batch(source, [payload]) if payload is not None else None
