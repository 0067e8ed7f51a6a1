"""The scheduler on every store: due jobs move once, in due order, to their level lists."""

from __future__ import annotations

import collections
import functools
import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import pytest

from queuekit.client.memory import MemoryClient
from queuekit.connect import connect
from queuekit.errors import InvalidOptionError
from queuekit.jobs import JobStatus, call
from queuekit.jobs.envelope import decode
from queuekit.jobs.keys import queue_keys
from queuekit.jobs.scheduler import move_due, move_due_async, next_due_ms, next_due_ms_async
from tests.jobs.conftest import Store

Q = queue_keys("default")
SCHEDULERS = 4
JOBS = 10_000
DELAY_S = 60
BATCH = 500  # smaller than the default so the schedulers race over more rounds


def ready_ids(store: Store, level: int = 1) -> list[str]:
    """Ids on a ready list in the order a worker's BRPOP takes them."""
    return [decode(p).id for p in reversed(store.client.lrange(Q.ready[level], 0, -1))]


def test_due_jobs_move_in_due_order_to_their_level(store: Store) -> None:
    """Due jobs go to their priority's list earliest first; later ones stay scheduled."""
    client = store.jobs()
    now = store.clock.now_ms()
    late = client.enqueue("app.noop", 1, _delay=30)
    urgent = client.enqueue("app.noop", 2, _delay=20, _priority="high")
    early = client.enqueue("app.noop", 3, _delay=10)
    future = client.enqueue("app.noop", 4, _delay=100)
    assert late and urgent and early and future
    assert next_due_ms(store.client, "default") == now + 10_000
    assert move_due(store.client, "default", now + 5_000) == 0
    assert move_due(store.client, "default", now + 50_000) == 3
    assert ready_ids(store, 1) == [early.id, late.id]
    assert ready_ids(store, 0) == [urgent.id]
    assert store.client.zrangebyscore(Q.scheduled, "-inf", "+inf") == [future.id.encode()]
    for job in (late, urgent, early):
        assert job.status() is JobStatus.QUEUED
        assert store.client.hget(Q.job(job.id), b"payload") is None
    assert future.status() is JobStatus.SCHEDULED
    assert next_due_ms(store.client, "default") == now + 100_000


def test_a_moved_payload_is_the_enqueued_envelope(store: Store) -> None:
    """The payload pushed is the envelope kept in the job hash, byte for byte."""
    job = store.jobs().enqueue("app.noop", 7, key="v", _delay=1)
    assert job is not None
    kept = store.client.hget(Q.job(job.id), b"payload")
    assert move_due(store.client, "default", store.clock.now_ms() + 1_000) == 1
    assert store.client.lrange(Q.ready[1], 0, -1) == [kept]
    assert decode(kept).kwargs == {"key": "v"}


def test_a_cancelled_scheduled_job_is_not_moved(store: Store) -> None:
    """cancel() takes a job out of the scheduled set, so the scheduler never pushes it."""
    client = store.jobs()
    kept = client.enqueue("app.noop", 1, _delay=5)
    dropped = client.enqueue("app.noop", 2, _delay=5)
    assert kept and dropped and dropped.cancel()
    assert move_due(store.client, "default", store.clock.now_ms() + 10_000) == 1
    assert ready_ids(store) == [kept.id]
    assert dropped.status() is JobStatus.CANCELLED


def test_a_due_id_without_a_job_hash_is_dropped_and_counted(store: Store) -> None:
    """An id whose hash expired is ZREM'd, counted, and pushes nothing."""
    store.client.zadd(Q.scheduled, {"gone": 5})
    assert move_due(store.client, "default", 10) == 1
    assert store.client.zcard(Q.scheduled) == 0
    assert store.client.exists(*Q.ready) == 0


def test_limit_moves_the_earliest_first(store: Store) -> None:
    """With a limit, each call moves at most that many, earliest due first."""
    client = store.jobs()
    jobs = [client.enqueue("app.noop", n, _delay=n + 1) for n in range(5)]
    due = store.clock.now_ms() + 60_000
    assert [move_due(store.client, "default", due, limit=2) for _ in range(4)] == [2, 2, 1, 0]
    assert ready_ids(store) == [job.id for job in jobs if job is not None]


def test_nothing_scheduled_has_no_next_due_time(store: Store) -> None:
    """next_due_ms is None for an empty scheduled set, and move_due moves nothing."""
    assert next_due_ms(store.client, "default") is None
    assert move_due(store.client, "default", 2**40) == 0


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_a_bad_limit_is_refused(limit: Any) -> None:
    """limit must be a positive int."""
    with pytest.raises(InvalidOptionError, match="limit"):
        move_due(None, "default", 0, limit=limit)


def test_the_async_scheduler_moves_due_jobs(store: Store) -> None:
    """move_due_async and next_due_ms_async do what the sync ones do."""
    job = store.jobs().enqueue("app.noop", 1, _delay=3, _priority="low")
    assert job is not None
    due = store.clock.now_ms() + 3_000

    async def main() -> tuple[Any, ...]:
        async with store.async_client() as raw:
            first = await next_due_ms_async(raw, "default")
            moved = await move_due_async(raw, "default", due)
            return first, moved, await next_due_ms_async(raw, "default")

    assert store.run(main()) == (due, 1, None)
    assert ready_ids(store, 2) == [job.id]


# -- many schedulers at once -----------------------------------------------------------


def enqueue_due_together(store: Store) -> tuple[set[str], int]:
    """JOBS delayed jobs all due at the same moment; their ids and that moment."""
    client = store.jobs()
    ids: set[str] = set()
    for start in range(0, JOBS, 2_000):
        batch = client.enqueue_many(
            call("app.noop", n, _delay=DELAY_S) for n in range(start, start + 2_000)
        )
        ids.update(job.id for job in batch if job is not None)
    assert len(ids) == JOBS
    return ids, store.clock.now_ms() + DELAY_S * 1000


def drain(client: Any, due_ms: int) -> int:
    """One scheduler: move due jobs until none are left; how many it moved."""
    total = 0
    while moved := move_due(client, "default", due_ms, limit=BATCH):
        total += moved
    return total


def assert_each_landed_once(store: Store, ids: set[str], moved: list[int]) -> None:
    counts = collections.Counter(decode(p).id for p in store.client.lrange(Q.ready[1], 0, -1))
    assert [job_id for job_id, n in counts.items() if n > 1] == []
    assert set(counts) == ids
    assert sum(moved) == JOBS
    assert store.client.zcard(Q.scheduled) == 0


def run_threads(targets: list[Callable[[], int]]) -> list[int]:
    moved: list[int] = []
    errors: list[BaseException] = []

    def run(target: Callable[[], int]) -> None:
        try:
            moved.append(target())
        except BaseException as error:  # reported by the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    return moved


def own_client(store: Store) -> Any:
    """A new sync client of the store, sharing no connection with the others."""
    if store.memory is not None:
        return MemoryClient(store.memory)
    assert store.url is not None
    return connect(store.url)


@pytest.mark.slow
def test_four_scheduler_threads_move_each_job_exactly_once(store: Store) -> None:
    """10,000 jobs due together, 4 threads each with its own client: each lands once."""
    ids, due = enqueue_due_together(store)
    clients = [own_client(store) for _ in range(SCHEDULERS)]
    try:
        moved = run_threads([functools.partial(drain, c, due) for c in clients])
    finally:
        for c in clients:
            c.close()
    assert_each_landed_once(store, ids, moved)


def schedule(url: str, due_ms: int, start: Any, results: Any) -> None:
    """One scheduler process: wait for the start, drain, report how many it moved."""
    with connect(url) as client:
        start.wait(60)
        results.put(drain(client, due_ms))


@pytest.mark.slow
@pytest.mark.parametrize("store", ["queuekit", "redis", "cluster"], indirect=True)
def test_four_scheduler_processes_move_each_job_exactly_once(store: Store) -> None:
    """10,000 jobs due together, 4 scheduler processes: each lands once."""
    ids, due = enqueue_due_together(store)
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=schedule, args=(store.url, due, start, results))
        for _ in range(SCHEDULERS)
    ]
    for process in processes:
        process.start()
    start.set()
    moved = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert_each_landed_once(store, ids, moved)
