"""The burst worker on every store: order, sync and async tasks, results, bad jobs, status."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from queuekit.errors import InvalidOptionError, UsageError
from queuekit.jobs import JobStatus, Outcome, Summary, TaskSet, Worker
from queuekit.jobs.envelope import Envelope, encode
from queuekit.jobs.failed import FailedJobs
from queuekit.jobs.keys import queue_keys
from queuekit.jobs.worker import MIN_FETCH_TIMEOUT_S, fetch_timeout_s
from tests.jobs.conftest import Store

Q = queue_keys("default")


def make_worker(store: Store, tasks: TaskSet, client: Any = None, **options: Any) -> Worker:
    """A burst worker on the store, reading the store's fake clock, with seeded jitter."""
    return Worker(
        store.client if client is None else client,
        tasks,
        clock=store.clock,
        rng=random.Random(4),
        **options,
    )


def run_async_worker(store: Store, tasks: TaskSet, **options: Any) -> Summary:
    """run_burst_async on a fresh async client of the store."""

    async def main() -> Summary:
        async with store.async_client() as client:
            return await make_worker(store, tasks, client, **options).run_burst_async()

    result: Summary = store.run(main())
    return result


def recording_tasks() -> tuple[TaskSet, list[Any]]:
    """A TaskSet whose tasks append what they were called with to a list."""
    tasks, calls = TaskSet(), []

    @tasks.task(name="app.record")
    def record(value: Any) -> Any:
        calls.append(value)
        return value

    @tasks.task(name="app.arecord")
    async def arecord(value: Any) -> Any:
        await asyncio.sleep(0)
        calls.append(value)
        return value

    @tasks.task(name="app.kept", result_ttl=60)
    def kept(value: Any) -> Any:
        return {"got": value}

    return tasks, calls


def test_a_burst_drains_in_priority_then_fifo_order(store: Store) -> None:
    """Higher levels first, first in first out within a level, then the worker returns."""
    tasks, calls = recording_tasks()
    client = store.jobs(tasks)
    for n, priority in enumerate(["low", "default", "high", "low", "high", "default"]):
        client.enqueue("app.record", f"{priority}{n}", _priority=priority)
    summary = make_worker(store, tasks).run_burst()
    assert calls == ["high2", "high4", "default1", "default5", "low0", "low3"]
    assert summary.succeeded == 6 and summary.total == 6
    assert store.client.hget(Q.stats, b"succeeded") == b"6"
    assert all(store.client.llen(key) == 0 for key in Q.ready)


def test_queues_are_taken_in_the_order_given(store: Store) -> None:
    """A low job of the first queue runs before a high job of the second."""
    tasks, calls = recording_tasks()
    client = store.jobs(tasks)
    client.enqueue("app.record", "second-high", _queue="second", _priority="high")
    client.enqueue("app.record", "first-low", _queue="first", _priority="low")
    summary = make_worker(store, tasks, queues=["first", "second"]).run_burst()
    assert calls == ["first-low", "second-high"]
    assert summary.as_dict()["succeeded"] == 2


def test_the_async_worker_takes_queues_in_the_order_given(store: Store) -> None:
    """The same order from run_burst_async (on a cluster: one queue at a time)."""
    tasks, calls = recording_tasks()
    client = store.jobs(tasks)
    client.enqueue("app.record", "second-high", _queue="second", _priority="high")
    client.enqueue("app.record", "first-low", _queue="first", _priority="low")
    summary = run_async_worker(store, tasks, queues=["first", "second"])
    assert calls == ["first-low", "second-high"]
    assert summary.succeeded == 2


def test_a_job_delivered_again_after_it_ran_is_run_and_counted(store: Store) -> None:
    """As when a failover rolls back the pop that took it: it runs again, counted."""
    tasks, calls = recording_tasks()
    job = store.jobs(tasks).enqueue("app.record", "once")
    assert job is not None
    payload = store.client.lrange(Q.ready[1], 0, -1)[0]
    make_worker(store, tasks).run_burst()
    store.client.lpush(Q.ready[1], payload)  # the rolled-back pop
    assert make_worker(store, tasks).run_burst().succeeded == 1
    assert calls == ["once", "once"]
    assert store.client.hget(Q.stats, b"delivered_twice") == b"1"


def test_sync_and_async_tasks_run_on_both_workers(store: Store) -> None:
    """Plain and async functions run on the sync worker and on the async worker."""
    tasks, calls = recording_tasks()
    client = store.jobs(tasks)
    client.enqueue("app.record", 1)
    client.enqueue("app.arecord", 2)
    assert make_worker(store, tasks).run_burst().succeeded == 2
    client.enqueue("app.record", 3)
    client.enqueue("app.arecord", 4)
    assert run_async_worker(store, tasks).succeeded == 2
    assert calls == [1, 2, 3, 4]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrent_runners_drain_every_job_once(store: Store, concurrency: int) -> None:
    """With several runners, sync or async, each job runs exactly once."""
    tasks, calls = recording_tasks()
    client = store.jobs(tasks)
    for n in range(20):
        client.enqueue("app.record" if n % 2 else "app.arecord", n)
    assert make_worker(store, tasks, concurrency=concurrency).run_burst().succeeded == 20
    for n in range(20, 40):
        client.enqueue("app.record" if n % 2 else "app.arecord", n)
    assert run_async_worker(store, tasks, concurrency=concurrency).succeeded == 20
    assert sorted(calls) == list(range(40))


def test_results_are_stored_only_when_asked(store: Store) -> None:
    """A result TTL (the task's or `_result_ttl`) stores the result; without one, none."""
    tasks, _ = recording_tasks()
    client = store.jobs(tasks)
    kept = client.enqueue("app.kept", 1)
    asked = client.enqueue("app.record", 2, _result_ttl=30)
    plain = client.enqueue("app.record", 3)
    assert kept is not None and asked is not None and plain is not None
    make_worker(store, tasks).run_burst()
    assert kept.result(5) == {"got": 1}
    assert asked.result(5) == 2
    assert 0 < store.client.pttl(Q.result(asked.id)) <= 30_000
    assert store.client.exists(Q.result(plain.id)) == 0
    assert plain.status() is JobStatus.SUCCEEDED


def test_status_is_running_inside_the_task_and_final_after(store: Store) -> None:
    """job.status() read from the task body says running; after, succeeded or failed."""
    tasks, seen = TaskSet(), []
    client = store.jobs(tasks)

    @tasks.task(name="app.look")
    def look(job_id: str, fail: bool) -> None:
        seen.append(client.job(job_id).status())
        if fail:
            raise RuntimeError("asked to fail")

    ok = client.enqueue("app.look", "ok", False, _job_id="ok")
    bad = client.enqueue("app.look", "bad", True, _job_id="bad")
    assert ok is not None and bad is not None
    make_worker(store, tasks, worker_id="w-1").run_burst()
    assert seen == [JobStatus.RUNNING, JobStatus.RUNNING]
    assert ok.status() is JobStatus.SUCCEEDED
    assert bad.status() is JobStatus.FAILED
    assert store.client.hget(Q.job("ok"), b"worker") == b"w-1"


def test_an_unknown_task_fails_with_its_reason_and_runs_nothing(store: Store) -> None:
    """A task name the worker's TaskSet lacks is recorded as failed; no function is called."""
    tasks, calls = recording_tasks()
    other, called = TaskSet(), []
    other.task(name="app.elsewhere")(lambda: called.append(1))
    job = store.jobs(other).enqueue("app.elsewhere")
    assert job is not None
    summary = make_worker(store, tasks).run_burst()
    assert summary.failed == 1 and called == [] and calls == []
    assert job.status() is JobStatus.FAILED
    (entry,) = FailedJobs(store.client).list()
    assert (entry.job_id, entry.error_type) == (job.id, "UnknownTaskError")
    assert entry.message == "unknown task app.elsewhere"


def test_undecodable_payloads_are_counted_and_the_worker_goes_on(store: Store) -> None:
    """Garbage is counted; a damaged payload that names its id is also recorded as failed."""
    tasks, calls = recording_tasks()
    client = store.jobs(tasks)
    damaged = encode(Envelope("dmg", "app.record", (1,)))[:-3]
    store.client.lpush(Q.ready[1], b"\xc1 not msgpack", damaged)
    client.enqueue("app.record", "fine")
    summary = make_worker(store, tasks).run_burst()
    assert (summary.undecodable, summary.succeeded) == (2, 1)
    assert calls == ["fine"]
    assert store.client.hget(Q.stats, b"undecodable") == b"2"
    assert client.job("dmg").status() is JobStatus.FAILED
    (entry,) = FailedJobs(store.client).list()
    assert (entry.job_id, entry.message) == ("dmg", "undecodable")


def test_the_dedup_key_is_released_when_the_job_finishes(store: Store) -> None:
    """Policy "finish": after the job ran, the same dedup key can be enqueued again."""
    tasks, calls = recording_tasks()
    client = store.jobs(tasks)
    assert client.enqueue("app.record", 1, _dedup_key="k") is not None
    assert client.enqueue("app.record", 2, _dedup_key="k") is None
    make_worker(store, tasks).run_burst()
    assert store.client.sismember(Q.dedup, b"k") == 0
    assert client.enqueue("app.record", 3, _dedup_key="k") is not None
    make_worker(store, tasks).run_burst()
    assert calls == [1, 3]


def test_a_cancelled_job_is_not_run(store: Store) -> None:
    """cancel() before the worker fetches keeps the job from running, as does a
    cancelled status on a payload still in a list."""
    tasks, calls = recording_tasks()
    client = store.jobs(tasks)
    victim = client.enqueue("app.record", "victim")
    client.enqueue("app.record", "kept")
    assert victim is not None and victim.cancel()
    stray = Envelope("stray", "app.record", ("stray",))
    store.client.hset(Q.job("stray"), b"status", b"cancelled")
    store.client.lpush(Q.ready[1], encode(stray))
    summary = make_worker(store, tasks).run_burst()
    assert calls == ["kept"]
    assert (summary.succeeded, summary.skipped) == (1, 1)
    assert victim.status() is JobStatus.CANCELLED
    assert client.job("stray").status() is JobStatus.CANCELLED


def test_an_async_task_is_cancelled_at_its_timeout(store: Store) -> None:
    """An async task over its timeout is cancelled and recorded as a TimeoutError failure."""
    tasks, finished = TaskSet(), []

    @tasks.task(name="app.slow", timeout=0.05)
    async def slow() -> None:
        await asyncio.sleep(30)
        finished.append(True)

    job = store.jobs(tasks).enqueue("app.slow")
    assert job is not None
    assert make_worker(store, tasks).run_burst().failed == 1
    assert finished == [] and job.status() is JobStatus.FAILED
    assert FailedJobs(store.client).list()[0].error_type == "TimeoutError"
    assert store.client.hget(Q.stats, b"timed_out") == b"1"


@pytest.mark.parametrize("use_async_worker", [False, True])
def test_a_late_sync_task_is_reported_timed_out_never_succeeded(
    store: Store, use_async_worker: bool
) -> None:
    """A sync task cannot be interrupted: it runs to its end, then counts as timed out."""
    tasks, finished = TaskSet(), []

    @tasks.task(name="app.late", timeout=0.01, result_ttl=60)
    def late() -> str:
        time.sleep(0.1)
        finished.append(True)
        return "too late"

    job = store.jobs(tasks).enqueue("app.late")
    assert job is not None
    if use_async_worker:
        summary = run_async_worker(store, tasks)
    else:
        summary = make_worker(store, tasks).run_burst()
    assert summary.failed == 1 and summary.succeeded == 0
    assert finished == [True] and job.status() is JobStatus.FAILED
    with pytest.raises(Exception, match="TimeoutError"):
        job.result(5)


def test_outcomes_are_named_by_the_summary() -> None:
    """Summary has a count for every Outcome."""
    summary = Summary()
    for outcome in Outcome:
        summary.add(outcome)
    assert summary.as_dict() == dict.fromkeys((o.value for o in Outcome), 1)
    assert summary.total == len(Outcome)


def test_the_fetch_timeout_never_reaches_past_the_next_due_job() -> None:
    """The BRPOP timeout is the ceiling, shortened to the next due time, never below 1 ms."""
    assert fetch_timeout_s(None, 1000, 0.5) == 0.5
    assert fetch_timeout_s(1100, 1000, 0.5) == 0.1
    assert fetch_timeout_s(900, 1000, 0.5) == MIN_FETCH_TIMEOUT_S


def test_a_worker_refuses_settings_it_cannot_honour(store: Store) -> None:
    """No queue, a concurrency below 1 or a bad queue name fail when the worker is made."""
    tasks, _ = recording_tasks()
    with pytest.raises(UsageError, match="at least one queue"):
        make_worker(store, tasks, queues=[])
    with pytest.raises(UsageError, match="concurrency 0"):
        make_worker(store, tasks, concurrency=0)
    with pytest.raises(InvalidOptionError, match="hash tag"):
        make_worker(store, tasks, queues=["a{b}"])
