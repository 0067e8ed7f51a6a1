"""Job handles: a job's status, its cancellation and its result, sync and async.

`Job` is what the synchronous `JobClient` returns, `AsyncJob` what the
`AsyncJobClient` returns; they have the same methods, awaited on AsyncJob
(`await job.status()`, `await job.cancel()`, `await job.result(timeout_s)`).
A handle holds only the job's id and queue, so any process can make one
(`client.job(job_id, queue=...)`) and ask.

Rules:
1. The job hash `qk:{q}:job:<id>` is the truth about a job's status. No
   hash means JobStatus.UNKNOWN: never enqueued, or the store forgot it.
2. cancel() takes a queued or scheduled job out of its list or the scheduled
   set and marks it cancelled in one MULTI/EXEC, after WATCHing the job hash
   (and the level list, for a queued job), so a worker or scheduler that
   takes the job at the same moment makes the cancel retry and see it gone.
   Workers mark a popped job running in its hash. A queued job is found in
   its list by the payload's id prefix (an LRANGE: cancel is rare, O(queue)).
3. Results are a one-element list with a TTL, written by `store_result`
   (which the worker uses). `result(timeout_s)` waits with BLMOVE of that list
   onto itself: it blocks without polling, and leaves the result in place
   for every other reader until the TTL ends.
4. Before it blocks, `result()` reads the job's status and whether its
   result exists in one MULTI. The result is written in the MULTI that
   writes the final status, so a final status without a result means none
   will come: JobFailedError for a failed job, UsageError ("pass
   _result_ttl") for a succeeded or cancelled one, instead of waiting.
"""

from __future__ import annotations

import enum
from collections.abc import Generator
from typing import Any

from queuekit.errors import JobFailedError, ResultTimeoutError, UsageError
from queuekit.jobs.envelope import decode_result, encode_result, id_prefix
from queuekit.jobs.keys import QueueKeys, queue_keys
from queuekit.jobs.txn import Body, run_body, run_body_async, run_plan, run_plan_async

CANCELLED_TTL_S = 24 * 3600  # how long a cancelled job's hash still answers status()
_FINAL = (b"succeeded", b"failed", b"cancelled")  # statuses after which no result is written


class JobStatus(enum.Enum):
    """Where a job is in its life; the value is what the job hash stores."""

    QUEUED = "queued"  # in a ready list, waiting for a worker
    SCHEDULED = "scheduled"  # in the scheduled set, waiting for its due time
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"  # its worker died while running it
    UNKNOWN = "unknown"  # no record: never enqueued, or expired from the store

    @classmethod
    def from_stored(cls, value: bytes | None) -> JobStatus:
        if value is None:
            return cls.UNKNOWN
        try:
            return cls(value.decode())
        except (UnicodeDecodeError, ValueError):
            return cls.UNKNOWN


# -- plans and bodies (sans-IO, shared by Job and AsyncJob) -------------------------


def _cancel_plan(keys: QueueKeys, job_id: str) -> Generator[Any, Any, Body | None]:
    """Rule 2, as a txn plan."""
    job = keys.job(job_id)
    yield (b"WATCH", job)
    status, level, dedup = yield (b"HMGET", job, b"status", b"priority", b"dedup")
    if status == b"scheduled":
        body: Body = [(b"ZREM", keys.scheduled, job_id), (b"HDEL", job, b"payload")]
    elif status == b"queued" and level is not None:
        ready = keys.ready[int(level)]
        yield (b"WATCH", ready)
        items = yield (b"LRANGE", ready, 0, -1)
        prefix = id_prefix(job_id)
        payload = next((item for item in items if item.startswith(prefix)), None)
        if payload is None:
            return None  # a worker has taken it
        body = [(b"LREM", ready, 1, payload)]
    else:
        return None
    body += [
        (b"HSET", job, b"status", b"cancelled"),
        (b"EXPIRE", job, CANCELLED_TTL_S),
        (b"HINCRBY", keys.stats, b"cancelled", 1),
    ]
    if dedup is not None:
        body.append((b"SREM", keys.dedup, dedup))
    return body


def result_body(
    queue: str, job_id: str, *, ok: bool, value: Any = None, error: str | None = None, ttl_s: float
) -> Body:
    """The MULTI/EXEC body that stores a job's result and final status."""
    keys = queue_keys(queue)
    status = b"succeeded" if ok else b"failed"
    return [
        *result_only_body(keys, job_id, ok=ok, value=value, error=error, ttl_s=ttl_s),
        (b"HSET", keys.job(job_id), b"status", status),
    ]


def result_only_body(
    keys: QueueKeys,
    job_id: str,
    *,
    ok: bool,
    value: Any = None,
    error: str | None = None,
    ttl_s: float,
) -> Body:
    """result_body without the status: for a worker, whose body writes the status itself."""
    key = keys.result(job_id)
    return [
        (b"DEL", key),
        (b"RPUSH", key, encode_result(ok, value, error)),
        (b"PEXPIRE", key, max(1, round(ttl_s * 1000))),
    ]


def store_result(
    client: Any,
    queue: str,
    job_id: str,
    *,
    ok: bool,
    value: Any = None,
    error: str | None = None,
    ttl_s: float,
) -> None:
    """Store a finished job's result for `ttl_s` seconds and mark it succeeded or failed."""
    run_body(client, result_body(queue, job_id, ok=ok, value=value, error=error, ttl_s=ttl_s))


async def store_result_async(
    client: Any,
    queue: str,
    job_id: str,
    *,
    ok: bool,
    value: Any = None,
    error: str | None = None,
    ttl_s: float,
) -> None:
    """store_result for async clients."""
    body = result_body(queue, job_id, ok=ok, value=value, error=error, ttl_s=ttl_s)
    await run_body_async(client, body)


def _blmove(key: bytes, timeout: float | None) -> tuple[Any, ...]:
    return (b"BLMOVE", key, key, b"LEFT", b"RIGHT", 0 if timeout is None else timeout)


def _probe(keys: QueueKeys, job_id: str) -> Body:
    """Rule 4: a job's status, its recorded error and whether its result exists, at once."""
    job = keys.job(job_id)
    return [
        (b"HMGET", job, b"status", b"error_type", b"error"),
        (b"EXISTS", keys.result(job_id)),
    ]


def _never_coming(job_id: str, replies: list[Any]) -> None:
    """Raise if the probe shows a final status without a result: none will come (rule 4)."""
    (status, error_type, error), exists = replies
    if exists or status not in _FINAL:
        return
    if status == b"failed":
        kind, message = ((value or b"").decode(errors="replace") for value in (error_type, error))
        raise JobFailedError(job_id, f"{kind}: {message}")
    raise UsageError(
        f"job {job_id} is {status.decode()} without a stored result: "
        "pass _result_ttl (or the task's result_ttl) to keep one"
    )


def _outcome(job_id: str, reply: bytes | None, timeout: float | None) -> Any:
    if reply is None:
        raise ResultTimeoutError(f"job {job_id} has no result after {timeout} s")
    ok, value = decode_result(reply)
    if not ok:
        raise JobFailedError(job_id, value)
    return value


# -- handles ----------------------------------------------------------------------


class _Handle:
    __slots__ = ("_client", "_keys", "id")

    def __init__(self, client: Any, job_id: str, queue: str) -> None:
        self._client = client
        self._keys = queue_keys(queue)
        self.id = job_id

    @property
    def queue(self) -> str:
        return self._keys.queue

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, queue={self.queue!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Handle):
            return NotImplemented
        return (self.id, self.queue) == (other.id, other.queue)

    def __hash__(self) -> int:
        return hash((self.id, self.queue))


class Job(_Handle):
    """A handle on one job, for synchronous clients."""

    __slots__ = ()

    def status(self) -> JobStatus:
        """The job's status now (rule 1)."""
        return JobStatus.from_stored(
            self._client.execute(b"HGET", self._keys.job(self.id), b"status")
        )

    def cancel(self) -> bool:
        """Cancel the job if it is queued or scheduled; True if this call cancelled it."""
        return run_plan(self._client, lambda: _cancel_plan(self._keys, self.id)) is not None

    def result(self, timeout_s: float | None = None) -> Any:
        """The job's return value, waiting up to `timeout_s` seconds (None: forever).

        Raises ResultTimeoutError if no result came in time, JobFailedError if
        the job failed, UsageError at once if it finished without storing a
        result (rule 4). Results exist only for jobs enqueued with a result TTL.
        """
        _never_coming(self.id, run_body(self._client, _probe(self._keys, self.id)))
        reply = self._client.execute(*_blmove(self._keys.result(self.id), timeout_s))
        return _outcome(self.id, reply, timeout_s)


class AsyncJob(_Handle):
    """A handle on one job, for async clients: the same methods as Job, awaited."""

    __slots__ = ()

    async def status(self) -> JobStatus:
        """The job's status now (rule 1)."""
        stored = await self._client.execute(b"HGET", self._keys.job(self.id), b"status")
        return JobStatus.from_stored(stored)

    async def cancel(self) -> bool:
        """Cancel the job if it is queued or scheduled; True if this call cancelled it."""
        body = await run_plan_async(self._client, lambda: _cancel_plan(self._keys, self.id))
        return body is not None

    async def result(self, timeout_s: float | None = None) -> Any:
        """The job's return value, waiting up to `timeout_s` seconds (see Job.result)."""
        _never_coming(self.id, await run_body_async(self._client, _probe(self._keys, self.id)))
        reply = await self._client.execute(*_blmove(self._keys.result(self.id), timeout_s))
        return _outcome(self.id, reply, timeout_s)
