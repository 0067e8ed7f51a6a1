"""Job handles on every store: status, cancel, results (sync and async)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from queuekit.errors import JobFailedError, ResultTimeoutError
from queuekit.jobs import JobStatus, call, store_result, store_result_async
from queuekit.jobs.envelope import decode
from queuekit.jobs.keys import queue_keys
from tests.jobs.conftest import Store

Q = queue_keys("default")


def test_a_job_nobody_enqueued_is_unknown(store: Store) -> None:
    """status() of an id with no job hash is UNKNOWN."""
    assert store.jobs().job("never").status() is JobStatus.UNKNOWN


def test_cancel_takes_a_queued_job_out_of_its_list(store: Store) -> None:
    """cancel() of a queued job removes only its payload and marks it cancelled."""
    client = store.jobs()
    keep, victim, keep_too = (client.enqueue("app.noop", n) for n in range(3))
    assert victim is not None and victim.cancel() is True
    assert victim.status() is JobStatus.CANCELLED
    remaining = [decode(p).id for p in store.client.lrange(Q.ready[1], 0, -1)]
    assert remaining == [keep_too.id, keep.id]  # type: ignore[union-attr]
    assert victim.cancel() is False
    assert store.client.hget(Q.stats, b"cancelled") == b"1"
    assert 0 < store.client.ttl(Q.job(victim.id)) <= 24 * 3600


def test_cancel_takes_a_scheduled_job_out_of_the_scheduled_set(store: Store) -> None:
    """cancel() of a scheduled job ZREMs it and drops the kept payload."""
    job = store.jobs().enqueue("app.noop", 1, _delay=60, _priority="high")
    assert job is not None and job.cancel() is True
    assert store.client.zcard(Q.scheduled) == 0
    assert store.client.hget(Q.job(job.id), b"payload") is None
    assert job.status() is JobStatus.CANCELLED


def test_cancel_releases_the_dedup_key(store: Store) -> None:
    """A cancelled job's dedup key is free again (policy 'finish')."""
    client = store.jobs()
    job = client.enqueue("app.noop", 1, _dedup_key="k")
    assert job is not None and job.cancel()
    assert client.enqueue("app.noop", 2, _dedup_key="k") is not None


def test_cancel_refuses_jobs_that_are_not_waiting(store: Store) -> None:
    """A running job, a job a worker already popped and an unknown job are not cancelled."""
    client = store.jobs()
    running = client.enqueue("app.noop", 1)
    store.client.hset(Q.job(running.id), b"status", b"running")  # type: ignore[union-attr]
    assert running.cancel() is False  # type: ignore[union-attr]
    popped = client.enqueue("app.noop", 2)
    store.client.lpop(Q.ready[1])  # a worker took it, not yet marked running
    assert popped.cancel() is False  # type: ignore[union-attr]
    assert client.job("nope").cancel() is False


def test_a_stored_result_is_returned_and_left_for_other_readers(store: Store) -> None:
    """store_result writes the result and status; result() reads it without consuming it."""
    job = store.jobs().enqueue("app.noop", 1)
    assert job is not None
    store_result(store.client, "default", job.id, ok=True, value={"sum": 3}, ttl_s=60)
    assert job.result(5) == {"sum": 3}
    assert job.result(5) == {"sum": 3}
    assert store.client.llen(Q.result(job.id)) == 1
    assert 0 < store.client.pttl(Q.result(job.id)) <= 60_000
    assert job.status() is JobStatus.SUCCEEDED


def test_a_failed_result_raises_job_failed_error(store: Store) -> None:
    """result() of a failed job raises JobFailedError carrying the recorded error."""
    job = store.jobs().job("j1")
    store_result(store.client, "default", "j1", ok=False, error="KeyError: 'x'", ttl_s=60)
    with pytest.raises(JobFailedError, match="job j1 failed: KeyError: 'x'") as caught:
        job.result(5)
    assert caught.value.error == "KeyError: 'x'"
    assert job.status() is JobStatus.FAILED


def test_result_waits_for_a_result_stored_later(store: Store) -> None:
    """result(timeout) blocks until the result is written, without polling."""
    job = store.jobs().enqueue("app.noop", 1)
    assert job is not None
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(job.result(30)))
    waiter.start()
    store_result(store.client, "default", job.id, ok=True, value=42, ttl_s=60)
    waiter.join(30)
    assert got == [42]


def test_result_times_out_with_a_clear_error(store: Store) -> None:
    """result(timeout) with no result raises ResultTimeoutError naming the job."""
    job = store.jobs().job("slow")
    with pytest.raises(ResultTimeoutError, match=r"job slow has no result after 0\.05 s"):
        job.result(0.05)


def test_the_async_client_enqueues_and_handles_jobs(store: Store) -> None:
    """AsyncJobClient and AsyncJob do what the sync ones do, awaited."""

    async def main() -> None:
        async with store.async_client() as raw:
            await scenario(store.async_jobs(raw))

    async def scenario(client: Any) -> None:
        job = await client.enqueue("app.noop", 1, _dedup_key="a")
        assert job is not None and await job.status() is JobStatus.QUEUED
        assert await client.enqueue("app.noop", 2, _dedup_key="a") is None
        assert await client.enqueue("app.noop", 2, _job_id="fixed") is not None
        assert await client.enqueue("app.noop", 2, _job_id="fixed") is None
        batch = await client.enqueue_many([call("app.noop", 3), call("app.noop", 4, _delay=5)])
        assert all(item is not None for item in batch)
        assert await job.cancel() is True
        assert await job.status() is JobStatus.CANCELLED
        await store_result_async(client.store, "default", "fixed", ok=True, value=[1], ttl_s=9)
        assert await client.job("fixed").result(5) == [1]
        with pytest.raises(ResultTimeoutError):
            await client.job("none").result(0.05)

    store.run(main())
    assert store.client.llen(Q.ready[1]) == 2  # "fixed" and 3; job 1 was cancelled
    assert store.client.zcard(Q.scheduled) == 1
    assert store.client.hget(Q.stats, b"deduplicated") == b"1"
