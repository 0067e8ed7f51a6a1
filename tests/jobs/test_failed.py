"""The failed registry on every store: record, list, count, requeue, purge, the bound."""

from __future__ import annotations

from typing import Any

import pytest

from queuekit.errors import InvalidOptionError
from queuekit.jobs import Job, JobStatus
from queuekit.jobs.envelope import decode
from queuekit.jobs.failed import (
    FAILED_MAX,
    FAILED_TTL_S,
    PURGE_BATCH,
    AsyncFailedJobs,
    FailedJob,
    FailedJobs,
    failure_body,
)
from queuekit.jobs.keys import queue_keys
from queuekit.jobs.txn import Body, run_body, run_body_async
from tests.jobs.conftest import Store

Q = queue_keys("default")


def fail(store: Store, job: Job | None, message: str = "boom", level: int = 1) -> None:
    """Do what a worker does with a job that raised: pop it, record the failure."""
    assert job is not None
    envelope = decode(store.client.rpop(Q.ready[level]))
    assert envelope.id == job.id
    body = failure_body(
        "default", envelope, "ValueError", message, "Traceback: ...", store.clock.now_ms()
    )
    run_body(store.client, body)
    store.clock.advance(ms=1)  # distinct failure times, so the order is defined


def bulk_failures(store: Store, count: int, **bound: Any) -> None:
    """`count` failures by bare id (no payload), in one MULTI: fast on every store."""
    body: Body = []
    now = store.clock.now_ms()
    for n in range(count):
        body += failure_body("default", f"j{n}", "E", "m", "t", now + n, **bound)
    run_body(store.client, body)


def test_a_failure_is_recorded_with_its_details(store: Store) -> None:
    """failure_body marks the job failed, keeps its payload and enters it in the set."""
    job = store.jobs().enqueue("app.noop", 1)
    failed_at = store.clock.now_ms()
    fail(store, job, "bad input")
    assert job is not None and job.status() is JobStatus.FAILED
    fields = store.client.hgetall(Q.job(job.id))
    assert fields[b"error_type"] == b"ValueError"
    assert fields[b"error"] == b"bad input"
    assert fields[b"traceback"] == b"Traceback: ..."
    assert fields[b"failed_at"] == str(failed_at).encode()
    assert decode(fields[b"payload"]).id == job.id
    assert store.client.zscore(Q.failed, job.id) == failed_at
    assert 0 < store.client.ttl(Q.job(job.id)) <= FAILED_TTL_S
    registry = FailedJobs(store.client)
    assert registry.count() == 1
    assert registry.list() == [
        FailedJob(job.id, "app.noop", "ValueError", "bad input", "Traceback: ...", failed_at)
    ]


def test_list_shows_the_newest_first_page_by_page(store: Store) -> None:
    """list(limit, offset) pages through the failures, newest first."""
    client = store.jobs()
    jobs = [client.enqueue("app.noop", n) for n in range(5)]
    for job in jobs:
        fail(store, job)
    newest_first = [job.id for job in reversed(jobs) if job is not None]
    registry = FailedJobs(store.client)
    assert [f.job_id for f in registry.list()] == newest_first
    assert [f.job_id for f in registry.list(limit=2, offset=1)] == newest_first[1:3]
    assert registry.list(limit=0) == []
    assert registry.list(offset=10) == []


def test_list_leaves_out_entries_whose_hash_expired(store: Store) -> None:
    """An entry whose job hash is gone is not listed, though it is still counted."""
    client = store.jobs()
    kept, expired = client.enqueue("app.noop", 1), client.enqueue("app.noop", 2)
    fail(store, kept)
    fail(store, expired)
    assert expired is not None and kept is not None
    store.client.delete(Q.job(expired.id))
    registry = FailedJobs(store.client)
    assert [f.job_id for f in registry.list()] == [kept.id]
    assert registry.count() == 2


@pytest.mark.parametrize("page", [{"limit": -1}, {"offset": -1}, {"limit": 1.5}, {"offset": True}])
def test_a_bad_page_is_refused(store: Store, page: dict[str, Any]) -> None:
    """limit and offset must be ints of 0 or more."""
    with pytest.raises(InvalidOptionError, match="must be an int of 0 or more"):
        FailedJobs(store.client).list(**page)


def test_requeue_puts_the_job_back_with_the_next_attempt(store: Store) -> None:
    """requeue() pushes the kept payload with attempt+1 on its level and clears the failure."""
    job = store.jobs().enqueue("app.noop", 1, _priority="high")
    fail(store, job, level=0)
    assert job is not None
    registry = FailedJobs(store.client)
    assert registry.requeue(job.id) is True
    (payload,) = store.client.lrange(Q.ready[0], 0, -1)
    envelope = decode(payload)
    assert (envelope.id, envelope.attempt, envelope.args) == (job.id, 1, (1,))
    assert job.status() is JobStatus.QUEUED
    fields = store.client.hgetall(Q.job(job.id))
    assert fields[b"attempt"] == b"1"
    cleared = {b"payload", b"error", b"error_type", b"traceback", b"failed_at", b"finished_at"}
    assert not cleared & set(fields)
    assert store.client.ttl(Q.job(job.id)) > 0  # kept: the finishing body sets it again
    assert registry.count() == 0
    assert store.client.hget(Q.stats, b"requeued") == b"1"
    assert registry.requeue(job.id) is False  # queued now, not failed
    assert store.client.llen(Q.ready[0]) == 1


def test_requeue_refuses_what_is_not_a_failed_job_with_a_payload(store: Store) -> None:
    """An unknown id, a queued job and a failure recorded by bare id are not requeued."""
    registry = FailedJobs(store.client)
    assert registry.requeue("unknown") is False
    queued = store.jobs().enqueue("app.noop", 1)
    assert queued is not None and registry.requeue(queued.id) is False
    run_body(store.client, failure_body("default", "bare", "E", "m", "t", store.clock.now_ms()))
    assert registry.requeue("bare") is False
    assert store.client.llen(Q.ready[1]) == 1
    assert registry.count() == 1


def test_requeue_all_puts_every_failed_job_back(store: Store) -> None:
    """requeue_all() requeues each failed job once and empties the registry."""
    client = store.jobs()
    jobs = [client.enqueue("app.noop", n) for n in range(3)]
    for job in jobs:
        fail(store, job)
    registry = FailedJobs(store.client)
    assert registry.requeue_all() == 3
    assert registry.count() == 0
    assert sorted(decode(p).id for p in store.client.lrange(Q.ready[1], 0, -1)) == sorted(
        job.id for job in jobs if job is not None
    )
    assert registry.requeue_all() == 0


def test_purge_one_deletes_its_hash_and_entry(store: Store) -> None:
    """purge(job_id) removes one failed job entirely; other jobs are untouched."""
    client = store.jobs()
    gone, kept = client.enqueue("app.noop", 1), client.enqueue("app.noop", 2)
    fail(store, gone)
    fail(store, kept)
    assert gone is not None and kept is not None
    registry = FailedJobs(store.client)
    assert registry.purge(gone.id) == 1
    assert gone.status() is JobStatus.UNKNOWN
    assert [f.job_id for f in registry.list()] == [kept.id]
    assert registry.purge(gone.id) == 0
    queued = client.enqueue("app.noop", 3)
    assert queued is not None and registry.purge(queued.id) == 0
    assert queued.status() is JobStatus.QUEUED


def test_purge_all_deletes_every_failed_job_in_batches(store: Store) -> None:
    """purge() with no id empties the registry and deletes the hashes, past one batch."""
    bulk_failures(store, PURGE_BATCH + 7)
    registry = FailedJobs(store.client)
    assert registry.purge() == PURGE_BATCH + 7
    assert registry.count() == 0
    assert store.keys() == []


def test_the_registry_keeps_the_newest_max_entries(store: Store) -> None:
    """Each failure trims the set to its newest max_entries in the same MULTI."""
    bulk_failures(store, 5, max_entries=3)
    assert [f.job_id for f in FailedJobs(store.client).list()] == ["j4", "j3", "j2"]


@pytest.mark.slow
def test_the_default_bound_is_failed_max(store: Store) -> None:
    """FAILED_MAX + 1 failures leave FAILED_MAX entries: the oldest is trimmed."""
    bulk_failures(store, FAILED_MAX + 1)
    registry = FailedJobs(store.client)
    assert registry.count() == FAILED_MAX == 10_000
    assert store.client.zscore(Q.failed, "j0") is None
    assert store.client.zscore(Q.failed, "j1") is not None


def test_entries_older_than_the_ttl_leave_the_set(store: Store) -> None:
    """A failure drops entries older than the hash TTL, whose hashes have expired."""
    run_body(store.client, failure_body("default", "old", "E", "m", "t", 1_000_000, ttl_s=60))
    run_body(store.client, failure_body("default", "new", "E", "m", "t", 1_060_001, ttl_s=60))
    assert store.client.zrangebyscore(Q.failed, "-inf", "+inf") == [b"new"]


def test_failure_body_refuses_a_bound_below_one() -> None:
    """max_entries and ttl_s must be at least 1."""
    with pytest.raises(InvalidOptionError, match="max_entries 0"):
        failure_body("default", "j", "E", "m", "t", 0, max_entries=0)


def test_the_async_registry_does_what_the_sync_one_does(store: Store) -> None:
    """AsyncFailedJobs lists, counts, requeues and purges, awaited."""
    client = store.jobs()
    jobs = [client.enqueue("app.noop", n) for n in range(4)]
    for job in jobs:
        fail(store, job)
    ids = [job.id for job in jobs if job is not None]

    async def main() -> None:
        async with store.async_client() as raw:
            registry = AsyncFailedJobs(raw, "default")
            assert [f.job_id for f in await registry.list(limit=2)] == ids[:1:-1]
            assert await registry.count() == 4
            assert await registry.requeue(ids[0]) is True
            assert await registry.requeue("unknown") is False
            assert await registry.purge(ids[1]) == 1
            assert await registry.requeue_all() == 2
            await run_body_async(raw, failure_body("default", "bare", "E", "m", "t", 5))
            assert await registry.purge() == 1
            assert await registry.count() == 0

    store.run(main())
    assert sorted(decode(p).id for p in store.client.lrange(Q.ready[1], 0, -1)) == sorted(
        [ids[0], ids[2], ids[3]]
    )
