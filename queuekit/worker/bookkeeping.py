"""What a worker process writes about itself and its jobs, as commands (sans-IO).

The registry (keys.py): `qk:workers` lists the worker ids, `qk:worker:<id>`
holds what `queuekit info` and `--check` show, `qk:worker:<id>:alive` is the
heartbeat, a key with a TTL that only a living worker keeps refreshing.

In-flight records, written by the runtime around every batch of jobs:
- start, with the batch's start commands (one round trip):
  `HSET qk:{q}:running:<worker> id t ...`, `HINCRBY qk:{q}:stats in_progress n`
  and (another slot on a cluster) `INCRBY qk:in_progress n`.
- finish, inside the queue's MULTI that writes the outcomes: HDEL of the
  ids, `in_progress -n`, and for at-least-once jobs the acknowledgement
  (LREM of the payload from the processing list); then `INCRBY qk:in_progress -n`.
- peaks: every value an INCRBY of in_progress answers is a count the store
  reached, so `ZADD <peak> GT <value> in_progress` of each answer keeps the
  exact high-water mark, with any number of workers: GT only ever raises it.
  It is written with the worker's next commands, a round trip later.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from typing import Any

from queuekit.jobs import keys
from queuekit.jobs.keys import QueueKeys
from queuekit.jobs.txn import Body, Command


def register(
    worker_id: str,
    queues: Iterable[str],
    reliable: Iterable[str],
    concurrency: int,
    started_ms: int,
    ttl_ms: int,
) -> Body:
    """The commands that put a worker in the registry, alive. Sent with every
    heartbeat too, so a store that restarted empty learns of the worker again
    (jobs_done, in_flight and last_progress are the flush's and the beat's)."""
    info = keys.worker_info(worker_id)
    fields = {
        b"host": socket.gethostname(),
        b"pid": os.getpid(),
        b"queues": ",".join(queues),
        b"reliable_queues": ",".join(reliable),
        b"concurrency": concurrency,
        b"started_at": started_ms,
    }
    flat = [item for pair in fields.items() for item in pair]
    return [
        (b"SADD", keys.WORKERS, worker_id),
        (b"HSET", info, *flat),
        heartbeat(worker_id, ttl_ms),
    ]


def heartbeat(worker_id: str, ttl_ms: int) -> Command:
    """The command that keeps a worker alive for `ttl_ms` more."""
    return (b"SET", keys.worker_alive(worker_id), b"1", b"PX", ttl_ms)


def deregister(worker_id: str) -> Body:
    """The commands that take a worker out of the registry (a clean exit, or its reaper)."""
    return [
        (b"SREM", keys.WORKERS, worker_id),
        # Two DELs, not one: untagged keys may sit in two slots of a cluster.
        (b"DEL", keys.worker_info(worker_id)),
        (b"DEL", keys.worker_alive(worker_id)),
    ]


def progress(worker_id: str, done: int, in_flight: int, now_ms: int) -> Body:
    """The registry's figures after `done` more jobs finished."""
    info = keys.worker_info(worker_id)
    return [
        (b"HINCRBY", info, b"jobs_done", done),
        (b"HSET", info, b"in_flight", in_flight, b"last_progress", now_ms),
    ]


def started(qkeys: QueueKeys, worker_id: str, job_ids: list[str], now_ms: int) -> Body:
    """With a batch's start commands: the in-flight record of `job_ids`; the last reply is
    the queue's new in_progress count."""
    body: Body = []
    if job_ids:
        pairs = [item for job_id in job_ids for item in (job_id, now_ms)]
        body.append((b"HSET", qkeys.running(worker_id), *pairs))
    body.append((b"HINCRBY", qkeys.stats, b"in_progress", len(job_ids)))
    return body


def finished(qkeys: QueueKeys, worker_id: str, job_ids: list[str], acks: list[bytes]) -> Body:
    """Inside the finish MULTI: the in-flight record of `job_ids` removed, and the
    at-least-once payloads `acks` acknowledged."""
    body: Body = [(b"LREM", qkeys.processing(worker_id), 1, payload) for payload in acks]
    if job_ids:
        body.append((b"HDEL", qkeys.running(worker_id), *job_ids))
        body.append((b"HINCRBY", qkeys.stats, b"in_progress", -len(job_ids)))
    return body


def coalesce_counters(body: Body) -> Body:
    """`body` with its HINCRBYs of one field summed into one command, placed last.

    A batch of finished jobs carries one `HINCRBY stats succeeded 1` per job;
    nothing in a flush reads those counters, so their sum is the same write
    in fewer commands.
    """
    sums: dict[tuple[Any, Any], int] = {}
    kept: Body = []
    for argv in body:
        if argv[0] == b"HINCRBY" and isinstance(argv[3], int):
            sums[argv[1], argv[2]] = sums.get((argv[1], argv[2]), 0) + argv[3]
        else:
            kept.append(argv)
    return kept + [(b"HINCRBY", key, name, total) for (key, name), total in sums.items()]


def total_in_progress(delta: int) -> Command:
    return (b"INCRBY", keys.IN_PROGRESS, delta)


def peak(key: bytes, value: int) -> Command:
    """Raise the high-water mark in `key` to `value` if it is higher (ZADD GT)."""
    return (b"ZADD", key, b"GT", value, keys.PEAK_MEMBER)
