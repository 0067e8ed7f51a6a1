"""A worker process's background loop: heartbeat, reaper, scheduled moves, periodic jobs.

Each pass, as each falls due:
- every pass (at least once a second): flush the metric hooks;
- every `heartbeat_interval_s`: refresh the heartbeat key and the registry
  (the whole registration, so a store that restarted empty knows the worker
  again; bookkeeping.register), and run the reaper of dead workers
  (reaper.py), counting what it finds;
- when a queue's earliest scheduled job is due (learned at least every
  SCHEDULE_REFRESH_MS): move the due jobs onto their lists (scheduler.py),
  exactly once however many workers try;
- periodic ticks (periodic.py).
Then it sleeps until the earliest of those. A store error is logged and the
loop goes on: it never stops the worker.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from queuekit.errors import QueuekitError, WatchError
from queuekit.jobs import keys
from queuekit.jobs.keys import queue_keys
from queuekit.jobs.periodic import Periodic
from queuekit.jobs.scheduler import move_due_async, next_due_ms_async
from queuekit.jobs.tasks import TaskSet
from queuekit.jobs.txn import Body
from queuekit.worker import bookkeeping, reaper

if TYPE_CHECKING:
    from queuekit.worker.runtime import WorkerProcess

log = structlog.get_logger(__name__)

SCHEDULE_REFRESH_MS = 1000  # how stale the known due times of scheduled jobs may get


async def move_due_counted(client: Any, queue: str, now_ms: int) -> None:
    """Move the due jobs of `queue`; a move that keeps losing its WATCH is logged and
    counted (stats `scheduler_contention`) and tried again later."""
    try:
        await move_due_async(client, queue, now_ms)
    except WatchError as error:
        log.warning("scheduler_contention", queue=queue, error=str(error))
        await client.execute(b"HINCRBY", queue_keys(queue).stats, b"scheduler_contention", 1)


class Background:
    """The background loop of one worker process (module docstring)."""

    def __init__(self, worker: WorkerProcess, tasks: TaskSet) -> None:
        self.worker = worker
        self.started_ms = 0
        scheduled = any(task.schedule is not None for task in tasks)
        self.periodic = (
            Periodic(tasks, worker.clock, worker.queues, worker_id=worker.worker_id)
            if scheduled
            else None
        )

    def registration(self, *, first: bool = False) -> Body:
        """The worker's registry entry and heartbeat; `first`: with zeroed figures."""
        worker, settings = self.worker, self.worker.settings
        if first:
            self.started_ms = worker.clock.now_ms()
        ttl_ms = round(settings.heartbeat_ttl_s * 1000)
        body = bookkeeping.register(
            worker.worker_id,
            worker.queues,
            worker.reliable,
            settings.concurrency,
            self.started_ms,
            ttl_ms,
        )
        info = keys.worker_info(worker.worker_id)
        if first:
            body.append((b"HSET", info, b"jobs_done", 0, b"in_flight", 0, b"last_progress", 0))
        else:
            body.append((b"HSET", info, b"in_flight", worker.in_flight))
        return body

    async def run(self) -> None:
        worker = self.worker
        client, clock = worker.client, worker.clock
        interval_ms = round(worker.settings.heartbeat_interval_s * 1000)
        next_beat = 0
        dues: dict[str, int | None] = {}
        refreshed = -SCHEDULE_REFRESH_MS
        while True:
            now = clock.now_ms()
            worker.metrics.flush()  # at least once a second, so an idle worker's counts show
            try:
                if now >= next_beat:
                    await self._beat(now)
                    next_beat = now + interval_ms
                if now - refreshed >= SCHEDULE_REFRESH_MS:
                    dues = {q: await next_due_ms_async(client, q) for q in worker.queues}
                    refreshed = now
                for queue, due in dues.items():
                    if due is not None and due <= now:
                        await move_due_counted(client, queue, now)
                        dues[queue] = await next_due_ms_async(client, queue)
                if self.periodic is not None:
                    await self.periodic.run_due(client)
            except QueuekitError as error:
                log.warning("background_error", error=str(error))
            wake = min(next_beat, refreshed + SCHEDULE_REFRESH_MS, *_known(dues))
            periodic_due = self.periodic.next_due_ms() if self.periodic is not None else None
            if periodic_due is not None:
                wake = min(wake, periodic_due)
            await asyncio.sleep(max(0.001, (wake - clock.now_ms()) / 1000))

    async def _beat(self, now_ms: int) -> None:
        worker = self.worker
        pipe = worker.client.pipeline(transaction=False)
        for argv in self.registration():
            pipe.execute_command(*argv)
        await pipe.execute()
        for reaped in await reaper.reap(worker.client, worker.worker_id, worker.queues, now_ms):
            if reaped.lost:
                worker.metrics.lost(reaped.queue, "worker_died", len(reaped.lost))
            if reaped.redelivered:
                worker.metrics.redelivered(reaped.queue, len(reaped.redelivered))


def _known(dues: dict[str, int | None]) -> list[int]:
    return [due for due in dues.values() if due is not None]
