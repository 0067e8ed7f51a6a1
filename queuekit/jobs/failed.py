"""The failed registry: which jobs of a queue failed, why, and a way back.

    qk:{q}:failed     sorted set: member = job id, score = failure time (Unix ms)
    qk:{q}:job:<id>   the details: status failed, error_type, error, traceback,
                      failed_at, and the encoded envelope in `payload` (for requeue)

A worker records a failure by putting `failure_body(...)` in the MULTI that
finishes the job. `FailedJobs(client, queue)` (and `AsyncFailedJobs`, awaited)
lists, counts, requeues and purges.

Rules:
1. Bounded: each failure trims the set to its newest `max_entries`
   (FAILED_MAX) with ZREMRANGEBYRANK in the same MULTI, and drops entries
   older than `ttl_s`. A failed job's hash expires after `ttl_s`
   (FAILED_TTL_S), so the hashes of entries trimmed by rank are reclaimed
   too: a failure never leaks memory for ever.
2. requeue(id) is a txn plan on the job hash: only a job whose status is
   failed and whose payload is kept goes back, once, to the ready list of
   its priority level with attempt + 1; its hash loses the failure fields
   (not its TTL: the body that finishes the job sets it again), and the id
   leaves the failed set, in one MULTI/EXEC. Its dedup key (policy
   "finish", released when it failed) is taken back if free; if another
   job holds it now, the hash and the envelope forget it, so this job's finish releases
   nothing of the other's (the dedup set is WATCHed).
3. purge deletes the failed jobs' hashes with their entries; a job whose
   hash says something other than failed (requeued meanwhile) keeps it.
4. list() shows the newest failures first; entries whose hash has expired
   are left out.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from queuekit.errors import InvalidOptionError, MalformedPayloadError
from queuekit.jobs.envelope import Envelope, decode, encode
from queuekit.jobs.keys import QueueKeys, queue_keys, stored_level
from queuekit.jobs.txn import (
    Body,
    pipelined,
    pipelined_async,
    run_plan,
    run_plan_async,
    score_pairs,
)

FAILED_MAX = 10_000  # entries kept per queue, newest first
FAILED_TTL_S = 30 * 24 * 3600  # a failed job's hash lives 30 days unless requeued or purged
PURGE_BATCH = 1000  # failed jobs deleted per MULTI by purge()
_REPAYLOAD_MAX_BYTES = 2**31  # a requeued envelope was accepted once; don't refuse it now
_DETAILS = (b"task", b"error_type", b"error", b"traceback")


@dataclass(frozen=True, slots=True)
class FailedJob:
    """One entry of the failed registry."""

    job_id: str
    task: str
    error_type: str
    message: str
    traceback: str
    failed_at: int  # Unix ms


def failure_body(
    queue: str,
    envelope_or_id: Envelope | str,
    error_type: str,
    message: str,
    traceback_text: str,
    now_ms: int,
    *,
    max_entries: int = FAILED_MAX,
    ttl_s: int = FAILED_TTL_S,
) -> Body:
    """The commands that record a failure (for a worker's MULTI; rule 1).

    Pass the envelope when there is one, so the job can be requeued; a bare id
    (the payload could not be decoded) records the failure without it.
    """
    if max_entries < 1 or ttl_s < 1:
        raise InvalidOptionError(
            f"max_entries {max_entries!r} and ttl_s {ttl_s!r} must both be at least 1"
        )
    keys = queue_keys(queue)
    fields: list[Any] = [b"status", b"failed", b"error_type", error_type, b"error", message]
    fields += [b"traceback", traceback_text, b"failed_at", now_ms, b"finished_at", now_ms]
    if isinstance(envelope_or_id, Envelope):
        job_id = envelope_or_id.id
        payload = encode(envelope_or_id, _REPAYLOAD_MAX_BYTES)
        fields += [b"task", envelope_or_id.task, b"attempt", envelope_or_id.attempt]
        fields += [b"payload", payload]
    else:
        job_id = envelope_or_id
    job = keys.job(job_id)
    return [
        (b"HSET", job, *fields),
        (b"EXPIRE", job, ttl_s),
        (b"ZADD", keys.failed, now_ms, job_id),
        (b"ZREMRANGEBYRANK", keys.failed, 0, -(max_entries + 1)),
        (b"ZREMRANGEBYSCORE", keys.failed, b"-inf", f"({now_ms - ttl_s * 1000}"),
    ]


# -- plans (sans-IO, shared by FailedJobs and AsyncFailedJobs) ----------------------


def _requeue_plan(keys: QueueKeys, job_id: str) -> Generator[Any, Any, Body | None]:
    """Rule 2; None when the job is not failed or cannot be requeued."""
    job = keys.job(job_id)
    yield (b"WATCH", job)
    status, payload, priority, dedup = yield (
        b"HMGET",
        job,
        b"status",
        b"payload",
        b"priority",
        b"dedup",
    )
    if status != b"failed" or payload is None:
        return None
    try:
        envelope = decode(payload)
    except MalformedPayloadError:
        return None
    again = dataclasses.replace(envelope, attempt=envelope.attempt + 1)
    claim: Body = []
    if dedup is not None:  # released when the job failed (policy "finish"): claim it again
        yield (b"WATCH", keys.dedup)
        if (yield (b"SISMEMBER", keys.dedup, dedup)):  # another job's now: forget it
            options = {k: v for k, v in envelope.options.items() if k != "dedup"}
            again = dataclasses.replace(again, options=options)
            claim = [(b"HDEL", job, b"dedup")]
        else:
            claim = [(b"SADD", keys.dedup, dedup)]
    cleared = (b"payload", b"error_type", b"error", b"traceback", b"failed_at", b"finished_at")
    return [
        *claim,
        (b"ZREM", keys.failed, job_id),
        (b"LPUSH", keys.ready[stored_level(priority)], encode(again, _REPAYLOAD_MAX_BYTES)),
        (b"HSET", job, b"status", b"queued", b"attempt", again.attempt),
        (b"HDEL", job, *cleared),
        (b"HINCRBY", keys.stats, b"requeued", 1),
    ]


def _purge_one_plan(keys: QueueKeys, job_id: str) -> Generator[Any, Any, Body | None]:
    """Rule 3 for one job; None when it is neither in the set nor failed."""
    job = keys.job(job_id)
    yield (b"WATCH", job, keys.failed)
    listed = yield (b"ZSCORE", keys.failed, job_id)
    status = yield (b"HGET", job, b"status")
    if listed is None and status != b"failed":
        return None
    body: Body = [(b"ZREM", keys.failed, job_id)]
    return [*body, (b"DEL", job)] if status == b"failed" else body


def _purge_batch_plan(keys: QueueKeys) -> Generator[Any, Any, Body | None]:
    """Rule 3 for the oldest PURGE_BATCH entries; None when the set is empty."""
    yield (b"WATCH", keys.failed)
    ids: list[bytes] = yield (b"ZRANGE", keys.failed, 0, PURGE_BATCH - 1)
    if not ids:
        return None
    jobs = [keys.job(job_id.decode()) for job_id in ids]
    statuses = yield [(b"HGET", job, b"status") for job in jobs]
    body: Body = [(b"ZREM", keys.failed, *ids)]
    failed = [job for job, status in zip(jobs, statuses, strict=True) if status == b"failed"]
    return [*body, (b"DEL", *failed)] if failed else body


def _removed(body: Body | None) -> int:
    """How many entries a purge body removed: the members of its ZREM (or 1 for one job)."""
    return 0 if body is None else len(body[0]) - 2


# -- listing ----------------------------------------------------------------------


def _page(limit: int, offset: int) -> tuple[int, int]:
    for name, value in (("limit", limit), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidOptionError(f"{name} {value!r} must be an int of 0 or more")
    return offset, offset + limit - 1


def _range(keys: QueueKeys, limit: int, offset: int) -> tuple[Any, ...]:
    start, stop = _page(limit, offset)
    return (b"ZRANGE", keys.failed, start, stop, b"REV", b"WITHSCORES")


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode(errors="replace")


def _entries(listed: list[tuple[bytes, Any]], rows: list[list[bytes | None]]) -> list[FailedJob]:
    """FailedJob values for the listed ids whose hash still exists (rule 4)."""
    entries = []
    for (job_id, score), row in zip(listed, rows, strict=True):
        if all(value is None for value in row):
            continue
        task, error_type, message, traceback_text = (_text(value) for value in row)
        entries.append(
            FailedJob(job_id.decode(), task, error_type, message, traceback_text, int(float(score)))
        )
    return entries


def _details(keys: QueueKeys, listed: list[tuple[bytes, Any]]) -> list[tuple[Any, ...]]:
    return [(b"HMGET", keys.job(job_id.decode()), *_DETAILS) for job_id, _ in listed]


# -- registries ---------------------------------------------------------------------


class FailedJobs:
    """The failed registry of one queue, through a synchronous client."""

    def __init__(self, client: Any, queue: str = "default") -> None:
        self._client = client
        self._keys = queue_keys(queue)

    def list(self, limit: int = 100, offset: int = 0) -> list[FailedJob]:
        """Up to `limit` failed jobs, newest first, skipping `offset` (rule 4)."""
        if limit == 0:
            return []
        listed = score_pairs(self._client.execute(*_range(self._keys, limit, offset)))
        if not listed:
            return []
        return _entries(listed, pipelined(self._client, _details(self._keys, listed)))

    def count(self) -> int:
        """How many entries the registry holds."""
        return int(self._client.execute(b"ZCARD", self._keys.failed))

    def requeue(self, job_id: str) -> bool:
        """Put a failed job back on its ready list (rule 2); False if it is not failed."""
        return run_plan(self._client, lambda: _requeue_plan(self._keys, job_id)) is not None

    def requeue_all(self) -> int:
        """Requeue every failed job in the registry; how many went back."""
        ids = self._client.execute(b"ZRANGE", self._keys.failed, 0, -1)
        return sum(self.requeue(job_id.decode()) for job_id in ids)

    def purge(self, job_id: str | None = None) -> int:
        """Delete one failed job (`job_id`) or all of them, hashes included; how many."""
        if job_id is not None:
            return _removed(run_plan(self._client, lambda: _purge_one_plan(self._keys, job_id)))
        total = 0
        while removed := _removed(run_plan(self._client, lambda: _purge_batch_plan(self._keys))):
            total += removed
        return total


class AsyncFailedJobs:
    """The failed registry of one queue, through an async client: FailedJobs, awaited."""

    def __init__(self, client: Any, queue: str = "default") -> None:
        self._client = client
        self._keys = queue_keys(queue)

    async def list(self, limit: int = 100, offset: int = 0) -> list[FailedJob]:
        """Up to `limit` failed jobs, newest first, skipping `offset` (rule 4)."""
        if limit == 0:
            return []
        listed = score_pairs(await self._client.execute(*_range(self._keys, limit, offset)))
        if not listed:
            return []
        return _entries(listed, await pipelined_async(self._client, _details(self._keys, listed)))

    async def count(self) -> int:
        """How many entries the registry holds."""
        return int(await self._client.execute(b"ZCARD", self._keys.failed))

    async def requeue(self, job_id: str) -> bool:
        """Put a failed job back on its ready list (rule 2); False if it is not failed."""
        body = await run_plan_async(self._client, lambda: _requeue_plan(self._keys, job_id))
        return body is not None

    async def requeue_all(self) -> int:
        """Requeue every failed job in the registry; how many went back."""
        ids = await self._client.execute(b"ZRANGE", self._keys.failed, 0, -1)
        return sum([await self.requeue(job_id.decode()) for job_id in ids])

    async def purge(self, job_id: str | None = None) -> int:
        """Delete one failed job (`job_id`) or all of them, hashes included; how many."""
        if job_id is not None:
            plan = functools.partial(_purge_one_plan, self._keys, job_id)
            return _removed(await run_plan_async(self._client, plan))
        total = 0
        batch = functools.partial(_purge_batch_plan, self._keys)
        while removed := _removed(await run_plan_async(self._client, batch)):
            total += removed
        return total
