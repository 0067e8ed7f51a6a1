"""Retries on every store: backoff through the scheduled set, Retry(delay), exhaustion."""

from __future__ import annotations

import random
from typing import Any

import pytest

from queuekit.errors import JobFailedError
from queuekit.jobs import JobStatus, Retry, TaskSet
from queuekit.jobs.envelope import decode
from queuekit.jobs.execution import JITTER, backoff_s
from queuekit.jobs.failed import FailedJobs
from queuekit.jobs.keys import queue_keys
from tests.jobs.conftest import Store
from tests.jobs.test_worker import make_worker, run_async_worker

Q = queue_keys("default")


def flaky_tasks(fail_times: int) -> tuple[TaskSet, list[int]]:
    """A task that fails `fail_times` times, then returns how often it ran."""
    tasks, runs = TaskSet(), []

    @tasks.task(name="app.flaky", retries=2, backoff=10, result_ttl=60)
    def flaky() -> int:
        runs.append(1)
        if len(runs) <= fail_times:
            raise ValueError(f"failure {len(runs)}")
        return len(runs)

    return tasks, runs


def scheduled(store: Store, job_id: str) -> tuple[int, Any]:
    """The job's due time in the scheduled set and the envelope its hash keeps."""
    score = store.client.zscore(Q.scheduled, job_id)
    return int(score), decode(store.client.hget(Q.job(job_id), b"payload"))


def assert_backoff(store: Store, job_id: str, base_ms: int, attempt: int) -> None:
    """The retry is due base_ms later at least, and at most JITTER more."""
    due, envelope = scheduled(store, job_id)
    now = store.clock.now_ms()
    assert now + base_ms <= due <= now + base_ms * (1 + JITTER)
    assert envelope.attempt == attempt
    assert store.client.hget(Q.job(job_id), b"attempt") == str(attempt).encode()


def test_an_error_with_retries_left_is_retried_with_backoff(store: Store) -> None:
    """A failing job goes back to the scheduled set with attempt+1 and runs when due."""
    tasks, runs = flaky_tasks(fail_times=2)
    job = store.jobs(tasks).enqueue("app.flaky")
    assert job is not None
    worker = make_worker(store, tasks)
    assert worker.run_burst().retried == 1
    assert job.status() is JobStatus.SCHEDULED
    assert_backoff(store, job.id, 10_000, attempt=1)
    assert worker.run_burst().total == 0  # not due yet
    store.clock.advance(12.5)
    assert worker.run_burst().retried == 1
    assert_backoff(store, job.id, 20_000, attempt=2)
    store.clock.advance(25)
    assert worker.run_burst().succeeded == 1
    assert len(runs) == 3 and job.result(5) == 3
    assert store.client.hget(Q.stats, b"retried") == b"2"
    assert store.client.zcard(Q.scheduled) == 0


def test_exhausted_retries_record_the_failure(store: Store) -> None:
    """After the last attempt fails: the failed registry, status failed, an error result."""
    tasks, runs = flaky_tasks(fail_times=99)
    job = store.jobs(tasks).enqueue("app.flaky")
    assert job is not None
    worker = make_worker(store, tasks)
    outcomes = []
    for _ in range(3):
        outcomes.append(worker.run_burst().as_dict())
        store.clock.advance(60)
    assert [o["retried"] for o in outcomes] == [1, 1, 0]
    assert outcomes[-1]["failed"] == 1 and len(runs) == 3
    assert job.status() is JobStatus.FAILED
    (entry,) = FailedJobs(store.client).list()
    assert (entry.job_id, entry.error_type, entry.message) == (job.id, "ValueError", "failure 3")
    assert "raise ValueError" in entry.traceback
    with pytest.raises(JobFailedError, match="ValueError: failure 3"):
        job.result(5)
    assert store.client.hget(Q.stats, b"failed") == b"1"


def test_the_jobs_retries_override_the_tasks(store: Store) -> None:
    """`_retries=0` makes the first failure final, whatever the task says."""
    tasks, runs = flaky_tasks(fail_times=1)
    job = store.jobs(tasks).enqueue("app.flaky", _retries=0)
    assert job is not None
    assert make_worker(store, tasks).run_burst().failed == 1
    assert job.status() is JobStatus.FAILED and len(runs) == 1


def test_retry_asks_for_a_run_after_its_delay_whatever_the_count(store: Store) -> None:
    """Retry(delay) schedules the job exactly delay later, even with no retries left."""
    tasks, runs = TaskSet(), []

    @tasks.task(name="app.later")
    def later() -> str:
        runs.append(1)
        if len(runs) < 3:
            raise Retry(delay=5)
        return "done"

    job = store.jobs(tasks).enqueue("app.later", _result_ttl=60)
    assert job is not None
    worker = make_worker(store, tasks)
    for attempt in (1, 2):
        assert worker.run_burst().retried == 1
        due, envelope = scheduled(store, job.id)
        assert due == store.clock.now_ms() + 5000 and envelope.attempt == attempt
        store.clock.advance(5)
    assert worker.run_burst().succeeded == 1
    assert job.result(5) == "done"


def test_retries_on_the_async_worker(store: Store) -> None:
    """The async worker retries and records as the sync one does."""
    tasks, runs = TaskSet(), []

    @tasks.task(name="app.async_flaky", retries=1, backoff=2)
    async def async_flaky() -> None:
        runs.append(1)
        raise KeyError("nope")

    job = store.jobs(tasks).enqueue("app.async_flaky")
    assert job is not None
    assert run_async_worker(store, tasks).retried == 1
    assert_backoff(store, job.id, 2000, attempt=1)
    store.clock.advance(3)
    assert run_async_worker(store, tasks).failed == 1
    assert job.status() is JobStatus.FAILED and len(runs) == 2


def test_backoff_doubles_and_stays_within_its_jitter() -> None:
    """backoff_s(base, a) lies in [base * 2**a, base * 2**a * (1 + JITTER)]."""
    rng = random.Random(7)
    for attempt in range(8):
        for _ in range(100):
            delay = backoff_s(1.5, attempt, rng)
            assert 1.5 * 2**attempt <= delay <= 1.5 * 2**attempt * (1 + JITTER)
    assert backoff_s(1.0, 10_000, rng) <= 24 * 3600 * (1 + JITTER)


def test_retry_refuses_a_bad_delay() -> None:
    """Retry(delay) with a negative delay is refused where it is raised."""
    with pytest.raises(ValueError, match="Retry delay -1"):
        Retry(delay=-1)
