"""Tasks raising BaseException on every store: recorded as failed, then re-raised or not."""

from __future__ import annotations

import asyncio
import random

import pytest

from queuekit.jobs import JobStatus, TaskSet, Worker
from queuekit.jobs.keys import queue_keys
from tests.jobs.conftest import Store

Q = queue_keys("default")


def worker(store: Store, tasks: TaskSet, client: object = None) -> Worker:
    """A burst worker on the store's fake clock."""
    return Worker(
        store.client if client is None else client,
        tasks,
        clock=store.clock,
        rng=random.Random(2),
    )


def assert_failed(store: Store, job_id: str, error_type: bytes) -> None:
    """The job is failed with `error_type`, counted, its dedup key released."""
    fields = store.client.hgetall(Q.job(job_id))
    assert fields[b"status"] == b"failed"
    assert fields[b"error_type"] == error_type
    assert store.client.hget(Q.stats, b"failed") == b"1"
    assert store.client.execute(b"SISMEMBER", Q.dedup, b"K") == 0


def test_system_exit_is_recorded_then_stops_the_worker(store: Store) -> None:
    """A task raising SystemExit leaves the job failed, not running, and the worker exits."""
    tasks = TaskSet()

    @tasks.task(name="app.exit", retries=3)
    def leave() -> None:
        raise SystemExit(3)

    job = store.jobs(tasks).enqueue("app.exit", _dedup_key="K")
    assert job is not None
    with pytest.raises(SystemExit):
        worker(store, tasks).run_burst()
    assert_failed(store, job.id, b"SystemExit")
    assert job.status() is JobStatus.FAILED


def test_a_self_raised_cancelled_error_is_a_failure_and_the_worker_goes_on(store: Store) -> None:
    """An async task raising CancelledError itself fails; the sync worker keeps working."""
    tasks = TaskSet()

    @tasks.task(name="app.cancel", retries=2)
    async def cancel() -> None:
        raise asyncio.CancelledError

    job = store.jobs(tasks).enqueue("app.cancel", _dedup_key="K")
    assert job is not None
    summary = worker(store, tasks).run_burst()
    assert summary.failed == 1 and summary.total == 1
    assert_failed(store, job.id, b"CancelledError")


def test_the_async_worker_survives_a_self_raised_cancelled_error(store: Store) -> None:
    """Under run_burst_async a task's own CancelledError is a failure, not a cancellation."""
    tasks = TaskSet()

    @tasks.task(name="app.cancel")
    async def cancel() -> None:
        raise asyncio.CancelledError

    @tasks.task(name="app.ok")
    async def ok() -> int:
        return 1

    jobs = store.jobs(tasks)
    job = jobs.enqueue("app.cancel", _dedup_key="K")
    jobs.enqueue("app.ok")
    assert job is not None

    async def main() -> object:
        async with store.async_client() as client:
            return await worker(store, tasks, client).run_burst_async()

    summary = store.run(main())
    assert (summary.failed, summary.succeeded) == (1, 1)
    assert_failed(store, job.id, b"CancelledError")
