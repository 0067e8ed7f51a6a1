"""The scheduler: due jobs from a queue's scheduled set onto its ready lists.

A delayed job waits as its id in `qk:{q}:scheduled` (score = due time in
Unix ms), with its payload in its job hash. `move_due` moves the jobs due by
`now_ms` as one txn plan:

    WATCH scheduled
    ZRANGEBYSCORE scheduled -inf now LIMIT 0 limit      the due ids, earliest first
    HMGET job:<id> payload priority  (pipelined)        each due job's payload and level
    MULTI
      ZREM scheduled <ids>
      LPUSH ready:<p> <payloads in due order>           one per level
      HSET job:<id> status queued ; HDEL job:<id> payload
    EXEC                                                WatchError: start again

Rules:
1. Exactly once: a job leaves the scheduled set in the same EXEC that pushes
   it, and the EXEC runs only if the set is unchanged since the WATCH. Of
   several schedulers racing for the same ids one EXEC wins; the others see
   the set changed and start again, finding those ids gone. So any number
   of schedulers may run at once.
2. None lost: a scheduler that dies before EXEC has changed nothing (the
   MULTI is discarded with its connection), one that dies after it has
   finished the move.
3. Everything that changes a scheduled job's hash also changes the scheduled
   set (cancel ZREMs it, enqueue and retries ZADD it), so watching the set
   alone guards the hashes read.
4. A due id whose job hash or payload is gone (cancelled, then expired) is
   only ZREM'd; it is counted among the moved ids.
5. Within a level the payloads are pushed in due order, so BRPOP takes the
   job due first, first.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from queuekit.errors import InvalidOptionError
from queuekit.jobs.keys import QueueKeys, queue_keys, stored_level
from queuekit.jobs.txn import Body, run_plan, run_plan_async, score_pairs

DEFAULT_LIMIT = 1000  # jobs moved per EXEC: bounds the transaction's size and time


def _move_plan(keys: QueueKeys, now_ms: int, limit: int) -> Generator[Any, Any, Body | None]:
    """The plan of the module docstring; None when nothing is due."""
    yield (b"WATCH", keys.scheduled)
    due: list[bytes] = yield (b"ZRANGEBYSCORE", keys.scheduled, b"-inf", now_ms, b"LIMIT", 0, limit)
    if not due:
        return None
    jobs = [keys.job(job_id.decode()) for job_id in due]
    found: list[list[bytes | None]] = yield [
        (b"HMGET", job, b"payload", b"priority") for job in jobs
    ]
    by_level: dict[int, list[bytes]] = {}
    marks: Body = []
    for job, (payload, priority) in zip(jobs, found, strict=True):
        if payload is None:
            continue  # rule 4
        by_level.setdefault(stored_level(priority), []).append(payload)
        marks += [(b"HSET", job, b"status", b"queued"), (b"HDEL", job, b"payload")]
    body: Body = [(b"ZREM", keys.scheduled, *due)]
    body += [(b"LPUSH", keys.ready[level], *payloads) for level, payloads in by_level.items()]
    return body + marks


def _moved(body: Body | None) -> int:
    """How many ids a body moved: the members of its ZREM."""
    return 0 if body is None else len(body[0]) - 2


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidOptionError(f"limit {limit!r} must be an int of at least 1")
    return limit


def move_due(client: Any, queue: str, now_ms: int, limit: int = DEFAULT_LIMIT) -> int:
    """Move up to `limit` jobs due by `now_ms` to their ready lists; how many moved."""
    keys, limit = queue_keys(queue), _check_limit(limit)
    return _moved(run_plan(client, lambda: _move_plan(keys, now_ms, limit)))


async def move_due_async(client: Any, queue: str, now_ms: int, limit: int = DEFAULT_LIMIT) -> int:
    """move_due for async clients."""
    keys, limit = queue_keys(queue), _check_limit(limit)
    return _moved(await run_plan_async(client, lambda: _move_plan(keys, now_ms, limit)))


def _first_score(reply: list[Any]) -> int | None:
    """The score of ZRANGE ... 0 0 WITHSCORES as int ms, or None when the set is empty."""
    pairs = score_pairs(reply)
    return int(float(pairs[0][1])) if pairs else None


def next_due_ms(client: Any, queue: str) -> int | None:
    """The due time (Unix ms) of the earliest scheduled job of `queue`, or None."""
    scheduled = queue_keys(queue).scheduled
    return _first_score(client.execute(b"ZRANGE", scheduled, 0, 0, b"WITHSCORES"))


async def next_due_ms_async(client: Any, queue: str) -> int | None:
    """next_due_ms for async clients."""
    scheduled = queue_keys(queue).scheduled
    return _first_score(await client.execute(b"ZRANGE", scheduled, 0, 0, b"WITHSCORES"))
