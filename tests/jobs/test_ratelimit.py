"""Rate limits on every store: fixed windows, deferred jobs, shared across workers."""

from __future__ import annotations

from typing import Any

from queuekit.jobs import JobStatus, TaskSet
from queuekit.jobs.keys import queue_keys
from queuekit.jobs.options import RateLimit
from queuekit.jobs.ratelimit import WINDOW_MARGIN_MS, window
from tests.jobs.conftest import Store
from tests.jobs.test_worker import make_worker, run_async_worker

Q = queue_keys("default")


def limited_tasks() -> tuple[TaskSet, list[Any]]:
    """A task limited to 2 starts a second that records its argument."""
    tasks, runs = TaskSet(), []

    @tasks.task(name="app.limited", rate_limit="2/s")
    def limited(n: int) -> None:
        runs.append(n)

    return tasks, runs


def test_a_window_is_aligned_to_unix_time() -> None:
    """The window holding a moment has a key per index and ends on the next boundary."""
    held = window("default", "t", RateLimit(5, 60), 1_700_000_030_500)
    assert held.key == Q.rate("t", 1_700_000_030_500 // 60_000)
    assert held.end_ms == (1_700_000_030_500 // 60_000 + 1) * 60_000
    assert held.check() == [(b"INCR", held.key), (b"PEXPIRE", held.key, 60_000 + WINDOW_MARGIN_MS)]
    assert held.allows(5) and not held.allows(6)


def test_jobs_over_the_limit_are_deferred_then_run(store: Store) -> None:
    """With "2/s" and 5 jobs: 2 run per window, the others wait for the next, none dropped."""
    tasks, runs = limited_tasks()
    client = store.jobs(tasks)
    jobs = [client.enqueue("app.limited", n) for n in range(5)]
    worker = make_worker(store, tasks)
    first = worker.run_burst()
    assert (first.succeeded, first.rate_limited) == (2, 3)
    assert runs == [0, 1]
    end = (store.clock.now_ms() // 1000 + 1) * 1000
    deferred = store.client.execute(b"ZRANGE", Q.scheduled, 0, -1)
    assert [store.client.zscore(Q.scheduled, member) for member in deferred] == [end] * 3
    assert jobs[4] is not None and jobs[4].status() is JobStatus.SCHEDULED
    assert worker.run_burst().total == 0  # same window: nothing is due
    store.clock.advance(1)
    second = worker.run_burst()
    assert (second.succeeded, second.rate_limited) == (2, 1)
    store.clock.advance(1)
    assert worker.run_burst().succeeded == 1
    assert sorted(runs) == [0, 1, 2, 3, 4]
    assert store.client.hget(Q.stats, b"rate_limited") == b"4"
    assert all(job is not None and job.status() is JobStatus.SUCCEEDED for job in jobs)


def test_the_limit_is_shared_by_every_worker(store: Store) -> None:
    """A second worker in the same window finds the limit used up by the first."""
    tasks, runs = limited_tasks()
    client = store.jobs(tasks)
    for n in range(3):
        client.enqueue("app.limited", n)
    assert make_worker(store, tasks, worker_id="a").run_burst().succeeded == 2
    (deferred,) = store.client.execute(b"ZRANGE", Q.scheduled, 0, -1)
    store.client.execute(b"ZADD", Q.scheduled, 0, deferred)  # due now, same window
    assert run_async_worker(store, tasks).rate_limited == 1
    assert runs == [0, 1]
