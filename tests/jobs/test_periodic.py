"""Periodic tasks on every store: one enqueue per tick, gaps skipped and counted."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from queuekit.errors import InvalidOptionError
from queuekit.jobs import JobStatus, Task, TaskSet, Worker
from queuekit.jobs.cron import MINUTE_MS, Every
from queuekit.jobs.envelope import Envelope, decode
from queuekit.jobs.keys import QUEUES, queue_keys
from queuekit.jobs.periodic import Periodic, periodic_job_id
from tests.jobs.conftest import Store

Q = queue_keys("default")
NAME = "app.tick"
HOUR_MS = 60 * MINUTE_MS


def minutely(**options: Any) -> tuple[TaskSet, Task[..., Any]]:
    """A TaskSet holding one task ticking every minute (options go to @tasks.periodic)."""
    tasks = TaskSet()
    options.setdefault("every", 60)

    @tasks.periodic(name=NAME, **options)
    def tick(n: int = 0, label: str = "") -> str:
        return f"{label}{n}"

    return tasks, tick


def move_to(store: Store, period_ms: int, past_ms: int = 0) -> int:
    """Advance the fake clock to `past_ms` after the next multiple of `period_ms`; that tick."""
    now = store.clock.now_ms()
    tick = (now // period_ms + 1) * period_ms
    store.clock.advance(ms=tick + past_ms - now)
    return tick


def workers(
    store: Store, tasks: TaskSet, count: int, queues: Sequence[str] = ("default",)
) -> list[Periodic]:
    """`count` worker processes' Periodic, on the store's fake clock."""
    return [Periodic(tasks, store.clock, queues, worker_id=f"w{index}") for index in range(count)]


def run_due(store: Store, *periodics: Periodic) -> list[int]:
    """run_due of each Periodic at once, each on its own async client of the store."""

    async def main() -> list[int]:
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(store.async_client()) for _ in periodics]
            runs = (p.run_due(client) for p, client in zip(periodics, clients, strict=True))
            return list(await asyncio.gather(*runs))

    result: list[int] = store.run(main())
    return result


def ready(store: Store) -> list[Envelope]:
    """The envelopes on the default queue's default level, oldest first."""
    return [decode(payload) for payload in reversed(store.client.lrange(Q.ready[1], 0, -1))]


def stat(store: Store, name: str) -> int:
    """A counter of the default queue's stats hash."""
    return int(store.client.hget(Q.stats, name) or 0)


def record(store: Store) -> int | None:
    """The last tick of the task handled, as the store records it."""
    stored = store.client.get(Q.periodic(NAME))
    return None if stored is None else int(stored)


# -- declaring -----------------------------------------------------------------


def test_a_periodic_task_is_a_task_with_a_schedule(store: Store) -> None:
    """@tasks.periodic registers a callable, enqueueable task carrying its schedule."""
    tasks, tick = minutely(queue="default", retries=2, timeout=5)
    plain = tasks.task(name="app.plain")(lambda: None)
    assert tasks[NAME] is tick and tick.schedule is not None
    assert isinstance(tick.schedule.timing, Every) and tick.schedule.timing.period_ms == 60_000
    assert (tick.options.retries, tick.options.timeout) == (2, 5.0)
    assert plain.schedule is None
    assert tick(3, label="n") == "n3"
    job = store.jobs(tasks).enqueue(tick, 4)
    assert job is not None and job.status() is JobStatus.QUEUED


def test_periodic_arguments_and_options_are_kept() -> None:
    """args, kwargs, tz and misfire_grace land on the schedule."""
    tasks = TaskSet()

    @tasks.periodic(cron="0 7 * * mon-fri", tz="Europe/Berlin", args=(1,), kwargs={"b": 2})
    def report(a: int, b: int) -> None: ...

    assert report.schedule is not None
    assert (report.schedule.args, report.schedule.kwargs) == ((1,), {"b": 2})
    assert str(report.schedule) == "cron '0 7 * * mon-fri' in Europe/Berlin"
    assert report.schedule.misfire_grace == 60.0
    assert report.name.endswith("test_periodic_arguments_and_options_are_kept.<locals>.report")


def takes_one(n: int) -> None: ...


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give cron= or every=, exactly one (got cron=None, every=None)"),
        ({"cron": "* * * * *", "every": 60}, "give cron= or every=, exactly one"),
        ({"every": 0.5, "args": (1,)}, "every 0.5 is 0.5 s, under the minimum of 1 s"),
        ({"every": datetime.timedelta(0), "args": (1,)}, "under the minimum of 1 s"),
        ({"cron": "*/5 * * *", "args": (1,)}, "cron '*/5 * * *': has 4 fields, not 5"),
        ({"cron": "0 25 * * *", "args": (1,)}, "hour value 25 is out of range 0-23"),
        ({"every": 60, "tz": "Europe/Paris", "args": (1,)}, "applies to cron schedules"),
        ({"cron": "@daily", "tz": "Nowhere/City", "args": (1,)}, "is not a zone"),
        ({"every": 60}, "do not fit app.bad(n: 'int') -> 'None': missing a required argument: 'n'"),
        ({"every": 60, "args": (1, 2)}, "too many positional arguments"),
        ({"every": 60, "kwargs": {"_delay": 5}}, "periodic kwargs '_delay' of 'app.bad'"),
        ({"every": 60, "args": (object(),)}, "periodic arguments of 'app.bad' cannot be sent"),
        ({"every": 60, "args": (1,), "queue": "a{b}"}, "queue name 'a{b}' contains"),
        ({"every": 60, "args": (1,), "retries": -1}, "retries -1 must be an int"),
    ],
)
def test_bad_periodic_declarations_are_refused(options: dict[str, Any], message: str) -> None:
    """A bad schedule, interval, option or argument fails where the task is declared."""
    tasks = TaskSet()
    with pytest.raises(InvalidOptionError) as raised:
        tasks.periodic(name="app.bad", **options)(takes_one)
    assert message in str(raised.value)
    assert "app.bad" not in tasks


def test_a_name_too_long_for_a_job_id_is_refused() -> None:
    """A periodic task's name must leave room for the tick in its runs' job ids."""
    tasks = TaskSet()
    with pytest.raises(InvalidOptionError, match="is 175 bytes, over the limit of 174 bytes"):
        tasks.periodic(every=60, name="x" * 175)(lambda: None)
    longest = tasks.periodic(every=60, name="x" * 174)(lambda: None)
    assert len(periodic_job_id(longest.name, 10**16 - 1)) == 200


# -- one enqueue per tick ----------------------------------------------------------


def test_one_tick_is_enqueued_once_by_eight_concurrent_workers(store: Store) -> None:
    """Eight workers see the same tick; exactly one enqueues it, each tick again."""
    tasks, _ = minutely()
    tick = move_to(store, MINUTE_MS, past_ms=1000)
    periodics = workers(store, tasks, 8)
    assert {p.next_due_ms() for p in periodics} == {tick}
    assert sum(run_due(store, *periodics)) == 1
    store.clock.advance(60)
    assert sum(run_due(store, *periodics)) == 1
    assert [envelope.id for envelope in ready(store)] == [
        periodic_job_id(NAME, tick),
        periodic_job_id(NAME, tick + MINUTE_MS),
    ]
    assert {p.next_due_ms() for p in periodics} == {tick + 2 * MINUTE_MS}
    assert sum(run_due(store, *periodics)) == 0  # nothing due until then
    assert stat(store, "periodic_enqueued") == 2 and stat(store, "enqueued") == 2
    assert stat(store, "periodic_skipped") == 0
    assert record(store) == tick + MINUTE_MS
    assert store.client.get(Q.tick(NAME, tick)) in {f"w{i}".encode() for i in range(8)}
    assert store.client.sismember(QUEUES, "default")


def test_one_tick_is_enqueued_once_by_workers_in_threads(store: Store) -> None:
    """Workers in four threads, each with its own loop and client, enqueue a tick once."""
    tasks, _ = minutely()
    move_to(store, MINUTE_MS, past_ms=500)
    periodics = workers(store, tasks, 4)
    start = threading.Barrier(len(periodics))
    counts: list[int] = []

    def work(periodic: Periodic) -> None:
        start.wait(60)
        counts.extend(run_due(store, periodic))

    threads = [threading.Thread(target=work, args=(p,)) for p in periodics]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(counts) == [0, 0, 0, 1]
    assert len(ready(store)) == 1


def test_a_late_worker_whose_lock_expired_does_not_enqueue_the_tick_again(store: Store) -> None:
    """The record, not the lock, makes a tick exactly-once: a late worker finds it done."""
    tasks, _ = minutely()
    tick = move_to(store, MINUTE_MS, past_ms=2000)
    early, late = workers(store, tasks, 2)
    assert run_due(store, early) == [1]
    store.client.delete(Q.tick(NAME, tick))  # as if its PX had run out
    assert run_due(store, late) == [0]
    assert len(ready(store)) == 1
    assert stat(store, "periodic_enqueued") == 1


def test_the_job_id_guards_a_tick_whose_record_was_lost(store: Store) -> None:
    """With record and lock gone, the fixed job id still refuses a second run of the tick."""
    tasks, _ = minutely()
    tick = move_to(store, MINUTE_MS, past_ms=2000)
    assert run_due(store, *workers(store, tasks, 1)) == [1]
    store.client.delete(Q.tick(NAME, tick), Q.periodic(NAME))
    assert run_due(store, *workers(store, tasks, 1)) == [0]
    assert len(ready(store)) == 1


# -- schedules ---------------------------------------------------------------------


def test_a_cron_task_is_enqueued_at_its_minutes(store: Store) -> None:
    """A */5 cron task runs at each fifth minute; a stale first tick is only recorded."""
    tasks, _ = minutely(every=None, cron="*/5 * * * *")
    first = move_to(store, 5 * MINUTE_MS, past_ms=3 * MINUTE_MS)
    periodic = workers(store, tasks, 1)[0]
    assert periodic.next_due_ms() == first
    assert run_due(store, periodic) == [0]  # 3 minutes old, no record: not a missed tick
    assert record(store) == first and stat(store, "periodic_skipped") == 0
    assert periodic.next_due_ms() == first + 5 * MINUTE_MS
    store.clock.advance(120)
    assert run_due(store, periodic) == [1]
    assert [envelope.id for envelope in ready(store)] == [
        periodic_job_id(NAME, first + 5 * MINUTE_MS)
    ]
    assert periodic.next_due_ms() == first + 10 * MINUTE_MS


def test_every_ticks_are_aligned_to_the_epoch(store: Store) -> None:
    """every=7 min ticks at multiples of 7 minutes since 1970, whenever the worker starts."""
    period = 7 * MINUTE_MS
    tasks, _ = minutely(every=datetime.timedelta(minutes=7))
    store.clock.advance(ms=12_345)
    periodic = workers(store, tasks, 1)[0]
    run_due(store, periodic)
    due = periodic.next_due_ms()
    assert due is not None and due % period == 0
    assert 0 < due - store.clock.now_ms() <= period
    store.clock.advance(ms=due - store.clock.now_ms())
    assert run_due(store, periodic) == [1]
    assert ready(store)[-1].id == periodic_job_id(NAME, due)


def test_a_first_tick_within_grace_runs(store: Store) -> None:
    """A task with no record runs its latest tick if it is at most misfire_grace old."""
    tasks, _ = minutely(every=None, cron="*/5 * * * *", misfire_grace=600)
    first = move_to(store, 5 * MINUTE_MS, past_ms=3 * MINUTE_MS)
    assert run_due(store, *workers(store, tasks, 1)) == [1]
    assert ready(store)[0].id == periodic_job_id(NAME, first)


def test_the_periodic_run_gets_the_declared_arguments(store: Store) -> None:
    """The enqueued job carries args and kwargs from the declaration, and runs."""
    tasks, _ = minutely(args=(7,), kwargs={"label": "n"}, result_ttl=60)
    move_to(store, MINUTE_MS)
    assert run_due(store, *workers(store, tasks, 1)) == [1]
    envelope = ready(store)[0]
    assert (envelope.task, envelope.args, envelope.kwargs) == (NAME, (7,), {"label": "n"})
    summary = Worker(store.client, tasks, clock=store.clock).run_burst()
    assert summary.succeeded == 1
    assert store.jobs(tasks).job(envelope.id).result(timeout_s=30) == "n7"


def test_a_task_on_a_queue_the_worker_does_not_listen_to_is_ignored(store: Store) -> None:
    """Periodic handles only tasks of its queues; others leave no trace."""
    tasks, _ = minutely(queue="reports")
    move_to(store, MINUTE_MS)
    ignoring = workers(store, tasks, 1, queues=("default", "mail"))[0]
    assert ignoring.next_due_ms() is None
    assert run_due(store, ignoring) == [0]
    assert store.keys() == []
    listening = workers(store, tasks, 1, queues=("mail", "reports"))[0]
    assert run_due(store, listening) == [1]
    assert store.client.llen(queue_keys("reports").ready[1]) == 1


# -- gaps ----------------------------------------------------------------------


@pytest.mark.parametrize("restart", [True, False], ids=["restarted", "stalled"])
@pytest.mark.parametrize("periods", [1, 2, 5])
def test_a_gap_runs_the_latest_tick_once_and_counts_the_others(
    store: Store, restart: bool, periods: int
) -> None:
    """After N periods without a run, the latest tick runs once and N-1 are skipped, counted."""
    tasks, _ = minutely()
    tick = move_to(store, MINUTE_MS, past_ms=1000)
    periodic = workers(store, tasks, 1)[0]
    assert run_due(store, periodic) == [1]
    store.clock.advance(60 * periods)
    if restart:
        periodic = workers(store, tasks, 3)[0]
    with capture_logs() as logs:
        assert run_due(store, periodic) == [1]
    latest = tick + periods * MINUTE_MS
    assert ready(store)[-1].id == periodic_job_id(NAME, latest)
    assert len(ready(store)) == 2
    assert stat(store, "periodic_skipped") == periods - 1
    assert record(store) == latest
    warnings = [entry for entry in logs if entry["event"] == "periodic_ticks_skipped"]
    if periods == 1:
        assert warnings == []
    else:
        assert [(w["task"], w["queue"], w["skipped"]) for w in warnings] == [
            (NAME, "default", periods - 1)
        ]
        assert warnings[0]["log_level"] == "warning"


def test_a_gap_ending_past_the_grace_runs_nothing_and_counts_every_tick(store: Store) -> None:
    """When even the latest tick is older than grace, all N are skipped and counted."""
    tasks, _ = minutely(every=None, cron="0 * * * *")
    tick = move_to(store, HOUR_MS, past_ms=1000)
    assert run_due(store, *workers(store, tasks, 1)) == [1]
    store.clock.advance(5 * 3600 + 30 * 60)
    periodics = workers(store, tasks, 4)
    with capture_logs() as logs:
        assert sum(run_due(store, *periodics)) == 0
    assert stat(store, "periodic_skipped") == 5
    assert record(store) == tick + 5 * HOUR_MS
    assert [entry["skipped"] for entry in logs if entry["event"] == "periodic_ticks_skipped"] == [5]
    store.clock.advance(30 * 60)
    assert sum(run_due(store, *periodics)) == 1
    assert stat(store, "periodic_skipped") == 5
    assert ready(store)[-1].id == periodic_job_id(NAME, tick + 6 * HOUR_MS)


def test_a_tick_lost_with_its_lock_winner_is_counted_by_the_next(store: Store) -> None:
    """A winner that died before its EXEC loses the tick; the next tick counts it skipped."""
    tasks, _ = minutely()
    tick = move_to(store, MINUTE_MS, past_ms=1000)
    periodic = workers(store, tasks, 1)[0]
    assert run_due(store, periodic) == [1]
    store.clock.advance(60)
    store.client.set(Q.tick(NAME, tick + MINUTE_MS), "dead-worker", px=60_000)
    assert run_due(store, periodic) == [0]
    store.clock.advance(60)
    assert run_due(store, periodic) == [1]
    assert stat(store, "periodic_skipped") == 1
    assert [envelope.id for envelope in ready(store)] == [
        periodic_job_id(NAME, tick),
        periodic_job_id(NAME, tick + 2 * MINUTE_MS),
    ]
