"""Finding dead workers and settling the jobs they held: lost, or delivered again.

Every worker process runs `reap` every heartbeat interval. A registered
worker whose heartbeat key is gone (its TTL passed without a refresh) is
dead. For each queue it listed, in one WATCH/MULTI plan on that queue's slot:

- at-least-once: every payload in its processing list goes back to the
  right end of its ready list (taken next), with attempt+1, status queued,
  stats `redelivered`;
- at-most-once: every job in its in-flight record that was not also in the
  processing list is lost: status lost, an entry in `qk:{q}:lost` (bounded,
  like the failed registry), stats `lost`, and a `jobs_lost` warning naming
  the ids. Losses are never silent.

The queue's in_progress count drops by the jobs of the record. WATCH on the
record and the processing list makes every dead worker's jobs settled
exactly once however many reapers race; the loser finds them gone. The
total (`qk:in_progress`) is corrected by the winner after its EXEC, and the
worker is then dropped from the registry.

A worker that never wrote its registry hash (it died while registering)
leaves only its id: it is dropped, with the queues of the reaper checked.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import structlog

from queuekit.errors import MalformedPayloadError
from queuekit.jobs import keys
from queuekit.jobs.envelope import decode, encode
from queuekit.jobs.keys import QueueKeys, queue_keys, stored_level
from queuekit.jobs.txn import Body, run_plan_async
from queuekit.worker import bookkeeping

log = structlog.get_logger(__name__)

LOST_MAX = 10_000  # lost-job entries kept per queue, oldest dropped first


@dataclass
class Reaped:
    """What settling one dead worker's jobs on one queue did."""

    queue: str = ""
    lost: list[str] = field(default_factory=list)
    redelivered: list[str] = field(default_factory=list)
    counted: int = 0  # entries of its in-flight record: in_progress drops by this


def requeue_body(qkeys: QueueKeys, payload: bytes, level: int) -> tuple[Body, str | None]:
    """Put a fetched payload back at the front of its level, attempt+1: (body, job id)."""
    try:
        envelope = decode(payload)
    except MalformedPayloadError:  # back as it was; the next worker counts it undecodable
        return [(b"RPUSH", qkeys.ready[level], payload)], None
    again = dataclasses.replace(envelope, attempt=envelope.attempt + 1)
    job = qkeys.job(envelope.id)
    return [
        (b"RPUSH", qkeys.ready[level], encode(again, sys.maxsize)),
        (b"HSET", job, b"status", b"queued", b"attempt", again.attempt),
        (b"HINCRBY", qkeys.stats, b"redelivered", 1),
    ], envelope.id


def lost_body(qkeys: QueueKeys, job_ids: list[str], now_ms: int) -> Body:
    """Record jobs as lost: their status, the lost set (bounded) and the counter."""
    if not job_ids:
        return []
    body: Body = [(b"HSET", qkeys.job(job_id), b"status", b"lost") for job_id in job_ids]
    body += [
        (b"ZADD", qkeys.lost, *(item for job_id in job_ids for item in (now_ms, job_id))),
        (b"ZREMRANGEBYRANK", qkeys.lost, 0, -(LOST_MAX + 1)),
        (b"HINCRBY", qkeys.stats, b"lost", len(job_ids)),
    ]
    return body


def _settle_plan(
    qkeys: QueueKeys, dead: str, now_ms: int, out: Reaped
) -> Generator[Any, Any, Body | None]:
    running, processing = qkeys.running(dead), qkeys.processing(dead)
    yield (b"WATCH", running, processing)
    held: list[bytes] = yield (b"HKEYS", running)
    payloads: list[bytes] = yield (b"LRANGE", processing, 0, -1)
    out.lost, out.redelivered, out.counted = [], [], len(held)
    if not held and not payloads:
        return None
    # The list is newest first; RPUSHed in that order, the oldest ends up taken first.
    ids = [_job_id(payload) for payload in payloads]
    levels = yield [(b"HGET", qkeys.job(job_id or ""), b"priority") for job_id in ids]
    body: Body = []
    for payload, level in zip(payloads, levels, strict=True):
        requeue, job_id = requeue_body(qkeys, payload, stored_level(level))
        body += requeue
        if job_id is not None:
            out.redelivered.append(job_id)
    redelivered = set(out.redelivered)
    out.lost = [held_id.decode() for held_id in held if held_id.decode() not in redelivered]
    body += lost_body(qkeys, out.lost, now_ms)
    body.append((b"DEL", running, processing))
    if held:
        body.append((b"HINCRBY", qkeys.stats, b"in_progress", -len(held)))
    return body


def _job_id(payload: bytes) -> str | None:
    try:
        return decode(payload).id
    except MalformedPayloadError:
        return None


async def settle(client: Any, queue: str, dead: str, now_ms: int) -> Reaped:
    """Settle the jobs `dead` held on `queue` (module docstring); empty if another
    reaper did it first."""
    qkeys, out = queue_keys(queue), Reaped(queue)
    body = await run_plan_async(client, lambda: _settle_plan(qkeys, dead, now_ms, out))
    return out if body is not None else Reaped(queue)


async def dead_workers(client: Any, me: str) -> list[str]:
    """The registered workers, other than `me`, whose heartbeat is gone."""
    members = [member.decode() for member in await client.execute(b"SMEMBERS", keys.WORKERS)]
    others = [worker for worker in members if worker != me]
    if not others:
        return []
    pipe = client.pipeline(transaction=False)
    for worker in others:
        pipe.execute_command(b"EXISTS", keys.worker_alive(worker))
    alive = await pipe.execute()
    return [worker for worker, exists in zip(others, alive, strict=True) if not exists]


async def reap(client: Any, me: str, own_queues: tuple[str, ...], now_ms: int) -> list[Reaped]:
    """Settle every dead worker's jobs and drop it from the registry; what was done."""
    results: list[Reaped] = []
    for dead in await dead_workers(client, me):
        listed = await client.execute(b"HGET", keys.worker_info(dead), b"queues")
        queues = listed.decode().split(",") if listed else list(own_queues)
        counted = 0
        for queue in filter(None, queues):
            reaped = await settle(client, queue, dead, now_ms)
            counted += reaped.counted
            _report(dead, queue, reaped)
            results.append(reaped)
        pipe = client.pipeline(transaction=False)
        if counted:
            pipe.execute_command(*bookkeeping.total_in_progress(-counted))
        for argv in bookkeeping.deregister(dead):
            pipe.execute_command(*argv)
        await pipe.execute()
        log.warning("worker_dead", worker=dead, queues=queues, jobs_settled=counted)
    return results


def _report(dead: str, queue: str, reaped: Reaped) -> None:
    if reaped.lost:
        log.warning("jobs_lost", worker=dead, queue=queue, reason="worker_died", ids=reaped.lost)
    if reaped.redelivered:
        log.warning("jobs_redelivered", worker=dead, queue=queue, ids=reaped.redelivered)
