"""Tasks for the real-Prometheus test: traffic that makes every dashboard series exist.

The test copies this file into its tmp_path and starts `queuekit worker traffic_tasks`
there. Each task produces some outcome the dashboard and the alert rules read:
successes spread over the histogram buckets, failures after a retry, timeouts,
rate-limit deferrals, and a worker process that dies mid-job (lost jobs on an
at-most-once queue, redelivered ones on an at-least-once queue, a restart).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

from queuekit.connect import connect
from queuekit.jobs import TaskSet
from queuekit.jobs.keys import WORKERS, queue_keys

RECORD_WAIT_S = 30.0  # far above one start round trip on a loaded machine

tasks = TaskSet()


@tasks.task(name="traffic.work")
async def work(n: int) -> int:
    """Succeeds after up to 50 ms, so durations fall in several buckets."""
    await asyncio.sleep(random.uniform(0.0, 0.05))
    return n


@tasks.task(name="traffic.flaky", retries=1, backoff=0.1)
def flaky(n: int) -> None:
    """Fails every attempt: one retry, then a failure."""
    raise RuntimeError(f"traffic.flaky job {n} fails on purpose")


@tasks.task(name="traffic.slow", timeout=0.05)
async def slow() -> None:
    """Runs past its 50 ms time limit: a timeout."""
    await asyncio.sleep(5.0)


@tasks.task(name="traffic.limited", rate_limit="2/s")
def limited(n: int) -> int:
    """Started at most twice a second over all workers: the rest are deferred."""
    return n


@tasks.task(name="traffic.die_once")
def die_once(queue: str, job_id: str) -> None:
    """Kills its worker process on its first run (enqueued with `_job_id=job_id` on `queue`)
    once the worker recorded the job as in flight; later runs return.

    Waiting for the record keeps the death out of the "undetected window"
    (docs/semantics.md): the process's jobs are then found lost (at-most-once
    queue) or redelivered (at-least-once queue), and the supervisor restarts it.
    """
    store = connect(os.environ["QUEUEKIT_URL"])
    try:
        if store.execute("INCR", f"traffic:died:{job_id}") != 1:
            return
        deadline = time.monotonic() + RECORD_WAIT_S
        while time.monotonic() < deadline and not recorded(store, queue, job_id):
            time.sleep(0.05)
    finally:
        store.close()
    os._exit(1)


def recorded(store: Any, queue: str, job_id: str) -> bool:
    """Whether this process's worker has `job_id` in its in-flight record of `queue`."""
    mine = [
        member.decode()
        for member in store.execute("SMEMBERS", WORKERS)
        if member.decode().split(":")[-2:-1] == [str(os.getpid())]
    ]
    return any(store.execute("HEXISTS", queue_keys(queue).running(w), job_id) for w in mine)
