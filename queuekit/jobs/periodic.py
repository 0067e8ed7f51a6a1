"""Periodic tasks: each tick enqueued exactly once, however many workers run.

A worker process keeps one `Periodic` for the periodic tasks (tasks.py,
`@tasks.periodic`) of its queues and calls `run_due` about once a second;
`next_due_ms` says when it next has work. For a tick T of task t on queue q
(keys from keys.py):

    SET qk:{q}:tick:<t>:<T> <worker> NX PX TICK_LOCK_TTL     the winner goes on; the rest skip T
    WATCH qk:{q}:periodic:<t> ; GET it -> last              the last tick enqueued or skipped
    (last >= T: T is done, stop)
    the enqueue plan of job "periodic:<t>:<T>" (prepare.py: WATCH the job hash, EXISTS)
    MULTI
      the job's enqueue body                                HSET job, LPUSH, HINCRBY enqueued
      SET qk:{q}:periodic:<t> T
      HINCRBY qk:{q}:stats periodic_enqueued 1  ;  HINCRBY ... periodic_skipped n
    EXEC                                                    WatchError: start the plan again

Rules:
1. Exactly once: the record and the job are written in one EXEC, which runs
   only if the record did not change since it was read, and only if it was
   behind T. The lock spares the losers that transaction; the fixed job id is
   a last guard. A winner that dies between its SET NX and its EXEC loses T,
   and the next tick's winner counts T as skipped (rule 3): nothing is silent.
2. Catch-up after a gap. A worker handles the latest tick L <= now. L is
   enqueued if it is at most `misfire_grace` seconds old (MISFIRE_GRACE_S,
   60 s, by default; a worker polling once a second meets each tick well
   within it). Otherwise L is skipped too. Ticks between the recorded one
   and L never run. A task with no record yet (first deployment) has no
   missed ticks: its latest tick runs if it is within grace, and is only
   recorded otherwise.
3. Every skipped tick is counted: `periodic_skipped` in qk:{q}:stats, by the
   tick's winner in the same EXEC that moves the record, with a
   "periodic_ticks_skipped" warning (task, queue, skipped). Enqueued ticks
   count as `periodic_enqueued`. So a gap of N periods gives one run and N-1
   skipped when the latest tick is within grace, else no run and N skipped.
4. A worker moves a task's next due time past now before it talks to the
   store, so a store error costs this worker that tick (rule 1 counts it if
   no other worker enqueued it) and never makes it retry in a loop.
5. Only tasks whose queue is one of the worker's queues are handled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from queuekit.engine.clock import Clock
from queuekit.jobs.cron import Schedule
from queuekit.jobs.keys import QUEUES, new_worker_id, queue_keys
from queuekit.jobs.prepare import call, prepare
from queuekit.jobs.settings import JobSettings
from queuekit.jobs.tasks import PERIODIC_ID_PREFIX, Task, TaskSet
from queuekit.jobs.txn import Body, Plan, run_plan_async

log = structlog.get_logger(__name__)

# The lock only spares late workers the WATCH transaction (rule 1); it outlives
# the spread of the workers' once-a-second polls many times over.
TICK_LOCK_TTL_S = 60.0


def periodic_job_id(task: str, tick_ms: int) -> str:
    """The id of the job a periodic tick enqueues."""
    return f"{PERIODIC_ID_PREFIX}{task}:{tick_ms}"


@dataclass(eq=False)
class _Entry:
    """One periodic task of this worker and the earliest tick it has not handled."""

    task: Task[Any, Any]
    schedule: Schedule
    due_ms: int


@dataclass
class _Outcome:
    """What the last run of a tick's plan decided (the plan may run more than once)."""

    skipped: int = 0
    enqueued: bool = False


class Periodic:
    """The periodic tasks of one worker process: enqueues what is due (module docstring)."""

    def __init__(
        self,
        tasks: TaskSet,
        clock: Clock,
        queues: Iterable[str],
        *,
        worker_id: str | None = None,
        settings: JobSettings | None = None,
    ) -> None:
        self.tasks = tasks
        self.clock = clock
        self.queues = frozenset(queue_keys(queue).queue for queue in queues)
        self.worker_id = worker_id or new_worker_id()
        self.settings = settings or JobSettings.from_env()
        now = clock.now_ms()
        # Each task starts at its latest tick, so one missed during a restart
        # is still handled (run or counted) by the first run_due (rule 2).
        self._entries = [
            _Entry(task, task.schedule, task.schedule.latest_at_or_before(now))
            for task in tasks
            if task.schedule is not None and task.options.queue in self.queues
        ]
        self._announced: set[str] = set()

    def next_due_ms(self) -> int | None:
        """When `run_due` next has work (Unix ms), or None if no periodic task is ours."""
        return min((entry.due_ms for entry in self._entries), default=None)

    async def run_due(self, client: Any) -> int:
        """Handle every task whose tick is due; how many jobs this worker enqueued."""
        now = self.clock.now_ms()
        enqueued = 0
        for entry in self._entries:
            if entry.due_ms > now:
                continue
            schedule = entry.schedule
            if schedule.next_after(entry.due_ms) > now:
                tick = entry.due_ms
            else:
                tick = schedule.latest_at_or_before(now)  # this worker fell behind
            entry.due_ms = schedule.next_after(now)  # rule 4
            enqueued += await self._handle(client, entry, tick, now)
        return enqueued

    async def _handle(self, client: Any, entry: _Entry, tick: int, now: int) -> int:
        """Rules 1-3 for one tick: lock, then the plan; 1 if this worker enqueued it."""
        name, queue = entry.task.name, entry.task.options.queue
        keys = queue_keys(queue)
        lock_ms = round(TICK_LOCK_TTL_S * 1000)
        won = await client.execute(
            b"SET", keys.tick(name, tick), self.worker_id, b"NX", b"PX", lock_ms
        )
        if won is None:
            return 0
        run = now - tick <= entry.schedule.misfire_grace * 1000
        if run and queue not in self._announced:
            await client.execute(b"SADD", QUEUES, queue)
            self._announced.add(queue)
        outcome = _Outcome()
        await run_plan_async(client, lambda: self._plan(entry, tick, run, outcome))
        if outcome.skipped:
            log.warning("periodic_ticks_skipped", task=name, queue=queue, skipped=outcome.skipped)
        return int(outcome.enqueued)

    def _plan(self, entry: _Entry, tick: int, run: bool, outcome: _Outcome) -> Plan:
        """The WATCH plan of the module docstring; None when the tick is already done."""
        outcome.skipped, outcome.enqueued = 0, False
        task, schedule = entry.task, entry.schedule
        keys = queue_keys(task.options.queue)
        record = keys.periodic(task.name)
        yield (b"WATCH", record)
        last = _tick_or_none((yield (b"GET", record)))
        if last is not None and last >= tick:
            return None
        # Rule 2: the ticks strictly between the record and this one never run.
        skipped = 0 if last is None else schedule.count_between(last, tick) - 1
        body: Body = []
        if run:
            job_id = periodic_job_id(task.name, tick)
            enqueue = call(task, *schedule.args, _job_id=job_id, **schedule.kwargs)
            prepared = prepare(enqueue, self.settings, self.clock, self.tasks)
            assert prepared.plan is not None  # a fixed job id always makes a plan
            enqueued = yield from prepared.plan()
            if enqueued is None:
                return None  # the job id exists: this tick ran already
            body += enqueued
            body.append((b"HINCRBY", keys.stats, b"periodic_enqueued", 1))
        elif last is not None:
            skipped += 1  # too old to run: skipped as well (rule 2)
        body.append((b"SET", record, tick))
        if skipped:
            body.append((b"HINCRBY", keys.stats, b"periodic_skipped", skipped))
        outcome.skipped, outcome.enqueued = skipped, run
        return body


def _tick_or_none(stored: Any) -> int | None:
    """A record's tick, or None when there is none (or it is not a number)."""
    try:
        return int(stored) if stored is not None else None
    except ValueError:
        return None
