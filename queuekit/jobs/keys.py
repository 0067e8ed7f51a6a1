"""Every key name the job layer uses, and nothing else.

A queue's keys all carry the queue's hash tag, `qk:{<queue>}:...`, so a queue
lives in one Redis Cluster slot and every multi-key command and transaction
of the job layer stays inside one slot:

    qk:{<queue>}:ready:<p>        list per priority level p (0 = high); LPUSH payloads,
                                  a worker BRPOPs the levels in order: strict priority
    qk:{<queue>}:job:<id>         hash per job: status, task, enqueued_at, attempt,
                                  priority, dedup; the payload while the job is scheduled
    qk:{<queue>}:scheduled        sorted set: member = job id, score = due time (Unix ms)
    qk:{<queue>}:failed           sorted set: member = job id, score = failure time (Unix ms),
                                  bounded (failed.py); details in the job hash
    qk:{<queue>}:dedup            set of dedup keys held until released
    qk:{<queue>}:dedup:<key>      string with a PX window (windowed dedup)
    qk:{<queue>}:result:<id>      one-element list holding the result, with a TTL
    qk:{<queue>}:stats            hash of counters: enqueued, deduplicated, ...
    qk:{<queue>}:rate:<task>:<w>  string counting starts of a task in rate window w (ratelimit.py)
    qk:{<queue>}:running:<worker> hash job id -> start time (Unix ms): a worker's in-flight
                                  record for this queue, read by the reaper when it dies
    qk:{<queue>}:processing:<worker>  list: payloads a worker fetched in at-least-once mode
                                  (LMOVE target), acknowledged by LREM, requeued by the reaper
    qk:{<queue>}:lost             sorted set: member = job id, score = when its loss was found
    qk:{<queue>}:peak             sorted set, member "in_progress": the most jobs of the queue
                                  ever in progress at once (ZADD GT); stats `in_progress` is now
    qk:{<queue>}:periodic:<task>  string: the last tick (Unix ms) of a periodic task handled
                                  (enqueued, or skipped and counted)
    qk:{<queue>}:tick:<task>:<t>  string, SET NX PX: the lock that lets one worker enqueue tick t

Keys without a tag, each in a slot of its own on a Redis Cluster, so the job
layer writes them one key per command and never inside a MULTI:

    qk:queues                     set of queue names
    qk:workers                    set of registered worker ids
    qk:worker:<id>                hash: host, pid, queues, reliable_queues, concurrency,
                                  started_at, jobs_done, in_flight, last_progress (Unix ms)
    qk:worker:<id>:alive          the heartbeat: a string with a PX TTL, refreshed while alive
    qk:in_progress                counter: jobs in progress over all queues
    qk:peak                       sorted set, member "in_progress": the most ever at once

Rules:
1. Key names are built here only; other modules ask for them.
2. A queue name is validated once, on the way in (`queue_keys`): non-empty,
   at most QUEUE_NAME_MAX_BYTES bytes of UTF-8, no '{' or '}' (which would
   move the hash tag).
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass

from queuekit.errors import InvalidOptionError

PREFIX = b"qk"
QUEUES = b"qk:queues"
WORKERS = b"qk:workers"
IN_PROGRESS = b"qk:in_progress"
PEAK = b"qk:peak"
PEAK_MEMBER = b"in_progress"  # the member of a peak sorted set
DEFAULT_QUEUE = "default"
QUEUE_NAME_MAX_BYTES = 200  # keys stay short; Redis allows far more

# Priority levels within a queue, highest first: a worker BRPOPs them in this order.
HIGH = 0
DEFAULT_PRIORITY = 1
LOW = 2
PRIORITY_LEVELS = 3
PRIORITY_NAMES = {"high": HIGH, "default": DEFAULT_PRIORITY, "low": LOW}

# The counters of a queue's stats hash (besides `in_progress`, a level). Listed
# so that readers can show each one from zero before its first event: a counter
# that appears only then hides that first event from Prometheus's rate().
STATS_COUNTERS = (
    "cancelled",
    "deduplicated",
    "delivered_twice",
    "duplicate_ids",
    "enqueued",
    "failed",
    "lost",
    "periodic_enqueued",
    "periodic_skipped",
    "rate_limited",
    "records_missing",
    "redelivered",
    "requeued",
    "retried",
    "scheduler_contention",
    "succeeded",
    "timed_out",
    "undecodable",
)


def validate_queue(name: object) -> str:
    """`name` if it is a usable queue name, else InvalidOptionError saying why."""
    if not isinstance(name, str):
        raise InvalidOptionError(f"queue name {name!r} must be a str, not {type(name).__name__}")
    if not name:
        raise InvalidOptionError("queue name '' is empty; give a non-empty name")
    if "{" in name or "}" in name:
        raise InvalidOptionError(
            f"queue name {name!r} contains '{{' or '}}', "
            "which would move its Redis Cluster hash tag"
        )
    size = len(name.encode())
    if size > QUEUE_NAME_MAX_BYTES:
        raise InvalidOptionError(
            f"queue name {name[:40]!r}... is {size} bytes, over the limit of "
            f"{QUEUE_NAME_MAX_BYTES} bytes"
        )
    return name


def stored_level(stored: bytes | None) -> int:
    """The priority level a job hash stores, or the default for anything unusable."""
    try:
        level = int(stored) if stored is not None else DEFAULT_PRIORITY
    except ValueError:
        return DEFAULT_PRIORITY
    return level if 0 <= level < PRIORITY_LEVELS else DEFAULT_PRIORITY


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The key names of one queue; get them through `queue_keys(name)`."""

    queue: str
    tag: bytes  # b"qk:{<queue>}:"
    ready: tuple[bytes, ...]  # one list per priority level, highest first
    scheduled: bytes
    failed: bytes
    dedup: bytes
    stats: bytes
    lost: bytes
    peak: bytes

    def job(self, job_id: str) -> bytes:
        return self.tag + b"job:" + job_id.encode()

    def result(self, job_id: str) -> bytes:
        return self.tag + b"result:" + job_id.encode()

    def dedup_window(self, dedup_key: str) -> bytes:
        return self.tag + b"dedup:" + dedup_key.encode()

    def rate(self, task: str, window: int) -> bytes:
        return self.tag + b"rate:" + task.encode() + b":" + str(window).encode()

    def running(self, worker_id: str) -> bytes:
        return self.tag + b"running:" + worker_id.encode()

    def processing(self, worker_id: str) -> bytes:
        return self.tag + b"processing:" + worker_id.encode()

    def periodic(self, task: str) -> bytes:
        return self.tag + b"periodic:" + task.encode()

    def tick(self, task: str, tick_ms: int) -> bytes:
        return self.tag + b"tick:" + task.encode() + b":" + str(tick_ms).encode()


@functools.lru_cache(maxsize=1024)
def queue_keys(queue: str) -> QueueKeys:
    """The keys of `queue`, validating its name (cached: a hot path of enqueue)."""
    tag = PREFIX + b":{" + validate_queue(queue).encode() + b"}:"
    return QueueKeys(
        queue=queue,
        tag=tag,
        ready=tuple(tag + b"ready:" + str(level).encode() for level in range(PRIORITY_LEVELS)),
        scheduled=tag + b"scheduled",
        failed=tag + b"failed",
        dedup=tag + b"dedup",
        stats=tag + b"stats",
        lost=tag + b"lost",
        peak=tag + b"peak",
    )


def queue_of(key: bytes) -> str:
    """The queue whose hash tag a queue key carries (rule 2: the name has no braces)."""
    return key[key.index(b"{") + 1 : key.index(b"}")].decode()


def new_worker_id() -> str:
    """A worker id, "<host>:<pid>:<6 hex>": a reused pid still makes a new worker."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def worker_info(worker_id: str) -> bytes:
    """The registry hash of a worker process."""
    return b"qk:worker:" + worker_id.encode()


def worker_alive(worker_id: str) -> bytes:
    """The heartbeat key of a worker process (it exists while the worker is alive)."""
    return b"qk:worker:" + worker_id.encode() + b":alive"
