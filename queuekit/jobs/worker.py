"""The burst worker: fetch, run and record jobs until the queues are drained.

    worker = Worker(client, tasks, queues=["high", "default"], concurrency=4)
    summary = worker.run_burst()          # memory:// and network sync clients
    summary = await worker.run_burst_async()   # async clients

Each loop of a runner:
1. moves the due scheduled jobs of a queue onto its ready lists
   (scheduler.move_due; safe with any number of workers at once), only
   when the earliest due time it knows for that queue has passed. It
   learns them (scheduler.next_due_ms) when it starts, after each move,
   after a job it ran was retried or deferred, when a fetch finds nothing,
   and at least every DUE_REFRESH_MS; an idle scheduled set costs no round
   trip per job. A move that keeps losing its WATCH (WatchError) is logged,
   counted (stats `scheduler_contention`) and tried again on a later loop;
   it never stops the worker;
2. fetches with one BRPOP over every queue's level lists in strict order:
   the queues in the order given, levels 0, 1, 2 within each; its timeout
   is short in burst mode and never past the next scheduled job's due time.
   On a Redis Cluster, where queues live in different slots, a worker of
   several queues pops each queue in turn (LMPOP, in order) and, when all
   are empty, waits with BRPOP on the first one only;
3. drives execution.process for the payload (decode, checks, run, outcome).

`run_burst` returns once a fetch finds every ready list empty and no
scheduled job of the listed queues is due: the Summary counts the
outcomes. Scheduled jobs due later (retries, deferred jobs) stay scheduled
for the next run. A task that raises Retry(0) every time keeps a burst
going forever: its retries are due at once.

Concurrency: `concurrency` runners fetch and run side by side; threads in
`run_burst` (sync tasks run in them, async tasks each in their own event
loop), tasks of one event loop in `run_burst_async` (async tasks awaited,
sync tasks in threads through asyncio.to_thread).

"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from queuekit.engine.clock import Clock, SystemClock
from queuekit.errors import UsageError, WatchError
from queuekit.jobs.execution import Context, Invoke, JobPlan, Outcome, process, run_async, run_sync
from queuekit.jobs.keys import new_worker_id, queue_keys
from queuekit.jobs.scheduler import move_due, move_due_async, next_due_ms, next_due_ms_async
from queuekit.jobs.tasks import TaskSet
from queuekit.jobs.txn import run_body, run_body_async

BURST_FETCH_TIMEOUT_S = 0.01  # how long a burst fetch waits on empty lists before it looks again
MIN_FETCH_TIMEOUT_S = 0.001  # BRPOP's resolution: Redis reads a smaller timeout as 0 (forever)
DUE_REFRESH_MS = 1000  # how stale a runner's due times may get while its lists keep it busy
_SCHEDULES = (Outcome.RETRIED, Outcome.RATE_LIMITED)  # outcomes that add to the scheduled set

log = structlog.get_logger(__name__)


@dataclass
class Summary:
    """How many fetched payloads ended in each outcome (execution.Outcome)."""

    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0
    skipped: int = 0
    undecodable: int = 0
    requeued: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())

    def as_dict(self) -> dict[str, int]:
        return {outcome.value: getattr(self, outcome.value) for outcome in Outcome}


def fetch_timeout_s(next_due_ms: int | None, now_ms: int, ceiling_s: float) -> float:
    """The BRPOP timeout: `ceiling_s`, shortened so a job due sooner is not missed."""
    if next_due_ms is None:
        return ceiling_s
    return min(ceiling_s, max(MIN_FETCH_TIMEOUT_S, (next_due_ms - now_ms) / 1000))


class Worker:
    """Runs the jobs of `queues` with the tasks of `tasks`; see the module docstring."""

    def __init__(
        self,
        client: Any,
        tasks: TaskSet,
        queues: Iterable[str] = ("default",),
        concurrency: int = 1,
        *,
        clock: Clock | None = None,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        fetch_timeout_s: float = BURST_FETCH_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.queues = tuple(dict.fromkeys(queues))
        if not self.queues:
            raise UsageError("a worker needs at least one queue to listen on")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise UsageError(f"concurrency {concurrency!r} must be an int of at least 1")
        self.concurrency = concurrency
        self.fetch_timeout_s = max(MIN_FETCH_TIMEOUT_S, fetch_timeout_s)
        worker_id = worker_id or new_worker_id()
        self.context = Context(tasks, clock or SystemClock(), worker_id, rng or random.Random())
        self._queue_of: dict[bytes, str] = {}
        for queue in self.queues:
            for ready in queue_keys(queue).ready:  # validates the name
                self._queue_of[ready] = queue
        self._wait_keys = tuple(self._queue_of)  # BRPOP's keys, in strict order
        # Step 2 on a cluster: one pop per queue, each inside its queue's slot,
        # then a wait on the first queue alone.
        self._turns: list[tuple[Any, ...]] = []
        if getattr(client, "cluster", False) and len(self.queues) > 1:
            for queue in self.queues:
                levels = queue_keys(queue).ready
                self._turns.append((b"LMPOP", len(levels), *levels, b"RIGHT"))
            self._wait_keys = queue_keys(self.queues[0]).ready
        self._lock = threading.Lock()

    def _count(self, summary: Summary, outcome: Outcome) -> None:
        with self._lock:
            summary.add(outcome)

    def _due(self, next_due: int | None) -> bool:
        return next_due is not None and next_due <= self.context.clock.now_ms()

    def _contention(self, queue: str, error: WatchError) -> tuple[Any, ...]:
        """Log a move that gave up; the command that counts it."""
        log.warning("scheduler_contention", queue=queue, error=str(error))
        return (b"HINCRBY", queue_keys(queue).stats, b"scheduler_contention", 1)

    # -- sync -----------------------------------------------------------------------

    def run_burst(self) -> Summary:
        """Run jobs until the queues are drained (module docstring); the outcomes."""
        summary = Summary()
        if self.concurrency == 1:
            self._runner(summary)
            return summary
        errors: list[BaseException] = []

        def runner() -> None:
            try:
                self._runner(summary)
            except BaseException as error:  # re-raised in the caller's thread below
                errors.append(error)

        threads = [
            threading.Thread(target=runner, name=f"queuekit-runner-{n}")
            for n in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return summary

    def _runner(self, summary: Summary) -> None:
        dues = self._dues()
        refreshed = self.context.clock.now_ms()
        while True:
            now = self.context.clock.now_ms()
            if now - refreshed >= DUE_REFRESH_MS:
                dues, refreshed = self._dues(), now
            for queue in self.queues:
                if self._due(dues[queue]):
                    self._move(queue, now)
                    dues[queue] = next_due_ms(self.client, queue)
            timeout = fetch_timeout_s(_earliest(dues), now, self.fetch_timeout_s)
            popped = self._fetch(timeout)
            if popped is not None:
                queue = self._queue_of[popped[0]]
                outcome = self._drive(process(self.context, queue, popped[1]))
                self._count(summary, outcome)
                if outcome in _SCHEDULES:
                    dues[queue] = next_due_ms(self.client, queue)
                continue
            dues, refreshed = self._dues(), now
            if not self._due(_earliest(dues)):
                return

    def _fetch(self, wait_s: float) -> list[bytes] | None:
        """Step 2: [ready list, payload], or None when nothing came in `wait_s`."""
        for turn in self._turns:
            popped = self.client.execute(*turn)
            if popped is not None:
                return _one(popped)
        waited: list[bytes] | None = self.client.execute(b"BRPOP", *self._wait_keys, wait_s)
        return waited

    def _dues(self) -> dict[str, int | None]:
        return {queue: next_due_ms(self.client, queue) for queue in self.queues}

    def _move(self, queue: str, now: int) -> None:
        try:
            move_due(self.client, queue, now)
        except WatchError as error:
            self.client.execute(*self._contention(queue, error))

    def _drive(self, plan: JobPlan) -> Outcome:
        reply: Any = None
        try:
            while True:
                step = plan.send(reply)
                if isinstance(step, Invoke):
                    reply = run_sync(step)
                elif isinstance(step, list):
                    reply = run_body(self.client, step)
                else:
                    reply = self.client.execute(*step)
        except StopIteration as stop:
            outcome: Outcome = stop.value
            return outcome

    # -- async ----------------------------------------------------------------------

    async def run_burst_async(self) -> Summary:
        """run_burst for async clients: the runners are tasks of the running loop."""
        summary = Summary()
        async with asyncio.TaskGroup() as group:
            for _ in range(self.concurrency):
                group.create_task(self._runner_async(summary))
        return summary

    async def _runner_async(self, summary: Summary) -> None:
        dues = await self._dues_async()
        refreshed = self.context.clock.now_ms()
        while True:
            now = self.context.clock.now_ms()
            if now - refreshed >= DUE_REFRESH_MS:
                dues, refreshed = await self._dues_async(), now
            for queue in self.queues:
                if self._due(dues[queue]):
                    await self._move_async(queue, now)
                    dues[queue] = await next_due_ms_async(self.client, queue)
            timeout = fetch_timeout_s(_earliest(dues), now, self.fetch_timeout_s)
            popped = await self._fetch_async(timeout)
            if popped is not None:
                queue = self._queue_of[popped[0]]
                outcome = await self._drive_async(process(self.context, queue, popped[1]))
                self._count(summary, outcome)
                if outcome in _SCHEDULES:
                    dues[queue] = await next_due_ms_async(self.client, queue)
                continue
            dues, refreshed = await self._dues_async(), now
            if not self._due(_earliest(dues)):
                return

    async def _fetch_async(self, wait_s: float) -> list[bytes] | None:
        """_fetch for async clients."""
        for turn in self._turns:
            popped = await self.client.execute(*turn)
            if popped is not None:
                return _one(popped)
        waited: list[bytes] | None = await self.client.execute(b"BRPOP", *self._wait_keys, wait_s)
        return waited

    async def _dues_async(self) -> dict[str, int | None]:
        return {queue: await next_due_ms_async(self.client, queue) for queue in self.queues}

    async def _move_async(self, queue: str, now: int) -> None:
        try:
            await move_due_async(self.client, queue, now)
        except WatchError as error:
            await self.client.execute(*self._contention(queue, error))

    async def _drive_async(self, plan: JobPlan) -> Outcome:
        reply: Any = None
        try:
            while True:
                step = plan.send(reply)
                if isinstance(step, Invoke):
                    reply = await run_async(step)
                elif isinstance(step, list):
                    reply = await run_body_async(self.client, step)
                else:
                    reply = await self.client.execute(*step)
        except StopIteration as stop:
            outcome: Outcome = stop.value
            return outcome


def _one(popped: list[Any]) -> list[bytes]:
    """LMPOP's [key, [payload]] as BRPOP's [key, payload]."""
    key, (payload,) = popped
    return [key, payload]


def _earliest(dues: dict[str, int | None]) -> int | None:
    """The earliest known due time over the queues, or None."""
    return min((due for due in dues.values() if due is not None), default=None)
