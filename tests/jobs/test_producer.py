"""Enqueue on every store: where payloads land, priorities, delays, dedup, batches, bad input."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest

import queuekit
from queuekit.errors import InvalidOptionError, PayloadTooLargeError
from queuekit.jobs import JobSettings, JobStatus, TaskSet, call
from queuekit.jobs.envelope import decode
from queuekit.jobs.keys import queue_keys
from tests.jobs.conftest import Store

Q = queue_keys("default")


def make_tasks() -> TaskSet:
    tasks = TaskSet()

    @tasks.task(name="app.noop")
    def noop(n: int) -> int:
        return n

    @tasks.task(name="app.low", priority="low", queue="bulk")
    def low(n: int) -> int:
        return n

    @tasks.task(name="app.boom")
    def boom() -> None:
        raise ValueError("boom")

    @tasks.task(name="app.double", result_ttl=60)
    async def double(n: int) -> int:
        return 2 * n

    return tasks


def test_enqueue_puts_the_payload_on_its_level_and_writes_the_job_hash(store: Store) -> None:
    """A plain enqueue LPUSHes the envelope on ready:1 and records the job as queued."""
    job = store.jobs().enqueue("app.noop", 7, flag=True)
    assert job is not None and job.queue == "default"
    (payload,) = store.client.lrange(Q.ready[1], 0, -1)
    envelope = decode(payload)
    assert (envelope.id, envelope.task, envelope.args, envelope.kwargs) == (
        job.id,
        "app.noop",
        (7,),
        {"flag": True},
    )
    assert envelope.enqueued_at == store.clock.now_ms()
    fields = store.client.hgetall(Q.job(job.id))
    assert fields == {
        b"status": b"queued",
        b"task": b"app.noop",
        b"enqueued_at": str(store.clock.now_ms()).encode(),
        b"attempt": b"0",
        b"priority": b"1",
    }
    assert job.status() is JobStatus.QUEUED
    assert store.client.hget(Q.stats, b"enqueued") == b"1"
    assert store.client.smembers(b"qk:queues") == {b"default"}


def test_jobs_of_one_level_come_out_in_fifo_order(store: Store) -> None:
    """LPUSH on enqueue and RPOP by a worker give first in, first out."""
    client = store.jobs()
    ids = [client.enqueue("app.noop", n).id for n in range(5)]  # type: ignore[union-attr]
    popped = [decode(store.client.rpop(Q.ready[1])).id for _ in ids]
    assert popped == ids


def test_priorities_go_to_their_level_lists(store: Store) -> None:
    """_priority and the task's priority choose the level list; BRPOP takes high first."""
    client = store.jobs(make_tasks())
    low = client.enqueue("app.low", 1)
    high = client.enqueue("app.noop", 2, _priority="high", _queue="bulk")
    default = client.enqueue("app.noop", 3, _priority=1, _queue="bulk")
    bulk = queue_keys("bulk")
    assert [store.client.llen(key) for key in bulk.ready] == [1, 1, 1]
    order = [decode(store.client.brpop(list(bulk.ready), 1)[1]).id for _ in range(3)]
    assert order == [high.id, default.id, low.id]  # type: ignore[union-attr]


def test_delay_puts_the_job_in_the_scheduled_set_with_its_due_time(store: Store) -> None:
    """_delay ZADDs the id scored by now + delay in ms and keeps the payload in the hash."""
    job = store.jobs().enqueue("app.noop", 1, _delay=90.5)
    assert job is not None
    assert store.client.zscore(Q.scheduled, job.id) == store.clock.now_ms() + 90_500
    assert decode(store.client.hget(Q.job(job.id), b"payload")).id == job.id
    assert store.client.llen(Q.ready[1]) == 0
    assert job.status() is JobStatus.SCHEDULED


def test_at_takes_an_aware_datetime_or_unix_seconds(store: Store) -> None:
    """_at schedules at that instant; an instant in the past enqueues at once."""
    client = store.jobs()
    due_ms = store.clock.now_ms() + 3_600_000
    at = datetime.datetime.fromtimestamp(due_ms / 1000, tz=datetime.UTC)
    first = client.enqueue("app.noop", 1, _at=at)
    second = client.enqueue("app.noop", 2, _at=due_ms / 1000)
    past = client.enqueue("app.noop", 3, _at=1.0)
    assert store.client.zscore(Q.scheduled, first.id) == due_ms  # type: ignore[union-attr]
    assert store.client.zscore(Q.scheduled, second.id) == due_ms  # type: ignore[union-attr]
    assert past.status() is JobStatus.QUEUED  # type: ignore[union-attr]


def test_a_dedup_key_lets_one_job_in_and_counts_the_rest(store: Store) -> None:
    """A second enqueue with the same _dedup_key returns None and is counted."""
    client = store.jobs()
    first = client.enqueue("app.noop", 1, _dedup_key="report:42")
    assert first is not None
    assert client.enqueue("app.noop", 2, _dedup_key="report:42") is None
    assert client.enqueue("app.noop", 3, _dedup_key="report:42", _delay=5) is None
    assert store.client.llen(Q.ready[1]) == 1
    assert store.client.smembers(Q.dedup) == {b"report:42"}
    assert store.client.hget(Q.stats, b"deduplicated") == b"2"
    assert store.client.hget(Q.job(first.id), b"dedup") == b"report:42"
    assert client.enqueue("app.noop", 4, _dedup_key="report:43") is not None


def test_a_dedup_window_expires(store: Store) -> None:
    """_dedup_ttl holds the key for its window (SET NX PX); after it, the key is free."""
    client = store.jobs()
    window = Q.dedup_window("ping")
    first = client.enqueue("app.noop", 1, _dedup_key="ping", _dedup_ttl=30)
    assert first is not None
    assert 0 < store.client.pttl(window) <= 30_000
    assert store.client.get(window) == first.id.encode()
    assert client.enqueue("app.noop", 2, _dedup_key="ping", _dedup_ttl=30) is None
    if store.memory is not None:
        store.clock.advance(30.001)
    else:
        store.client.pexpire(window, 0)  # the window ends now
    assert client.enqueue("app.noop", 3, _dedup_key="ping", _dedup_ttl=30) is not None
    assert store.client.llen(Q.ready[1]) == 2
    assert store.client.scard(Q.dedup) == 0


def test_a_task_dedup_window_applies_to_every_enqueue(store: Store) -> None:
    """A task's numeric dedup policy makes _dedup_key a window of that many seconds."""
    tasks = TaskSet()
    tasks.task(name="app.win", dedup=10)(lambda: None)
    client = store.jobs(tasks)
    assert client.enqueue("app.win", _dedup_key="k") is not None
    assert 0 < store.client.pttl(Q.dedup_window("k")) <= 10_000


def test_an_existing_job_id_returns_none(store: Store) -> None:
    """_job_id that already exists returns None, as arq does, and is counted."""
    client = store.jobs()
    job = client.enqueue("app.noop", 1, _job_id="nightly-2024-01-01")
    assert job is not None and job.id == "nightly-2024-01-01"
    assert client.enqueue("app.noop", 2, _job_id="nightly-2024-01-01") is None
    assert client.enqueue("app.noop", 2, _job_id="nightly-2024-01-01", _delay=9) is None
    assert store.client.llen(Q.ready[1]) == 1
    assert store.client.hget(Q.stats, b"duplicate_ids") == b"2"


def test_per_job_options_travel_in_the_envelope(store: Store) -> None:
    """_retries, _timeout and _result_ttl are stored as per-job option overrides."""
    store.jobs().enqueue("app.noop", 1, _retries=4, _timeout=2.5, _result_ttl=60)
    envelope = decode(store.client.rpop(Q.ready[1]))
    assert envelope.options == {"retries": 4, "timeout": 2.5, "result_ttl": 60.0}


class CountingClient:
    """A client proxy that counts round trips: direct commands and pipeline runs."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.round_trips = 0

    def execute(self, *args: Any) -> Any:
        self.round_trips += 1
        return self.client.execute(*args)

    def pipeline(self, transaction: bool = True) -> Any:
        pipe = self.client.pipeline(transaction=transaction)
        run = pipe.execute

        def counted(*args: Any, **kwargs: Any) -> Any:
            if not args:
                self.round_trips += 1
            return run(*args, **kwargs)

        pipe.execute = counted
        return pipe


def test_enqueue_many_sends_a_batch_in_one_round_trip(store: Store) -> None:
    """A batch over two queues and two levels is one pipeline; every job lands."""
    counting = CountingClient(store.client)
    client = store.jobs()
    client.store = counting
    calls = [call("app.noop", n) for n in range(50)]
    calls += [call("app.noop", n, _queue="other", _priority="high") for n in range(10)]
    calls.append(call("app.noop", 99, _delay=5))
    jobs = client.enqueue_many(calls)
    assert counting.round_trips == 1
    assert all(job is not None for job in jobs)
    assert store.client.llen(Q.ready[1]) == 50
    assert store.client.llen(queue_keys("other").ready[0]) == 10
    assert store.client.zcard(Q.scheduled) == 1
    assert [decode(p).args[0] for p in store.client.lrange(Q.ready[1], 0, -1)] == list(
        reversed(range(50))
    )
    assert store.client.smembers(b"qk:queues") == {b"default", b"other"}
    assert store.client.hget(Q.stats, b"enqueued") == b"51"
    assert all(job.status() is not JobStatus.UNKNOWN for job in jobs)  # type: ignore[union-attr]


def test_enqueue_many_handles_guarded_calls_after_the_batch(store: Store) -> None:
    """Dedup and fixed-id calls in a batch are checked; duplicates come back as None."""
    jobs = store.jobs().enqueue_many(
        [
            call("app.noop", 1, _dedup_key="d"),
            call("app.noop", 2),
            call("app.noop", 3, _dedup_key="d"),
        ]
    )
    assert [job is None for job in jobs] == [False, False, True]
    assert store.client.llen(Q.ready[1]) == 2


def test_every_key_carries_its_queue_hash_tag(store: Store) -> None:
    """After every kind of enqueue, each key but qk:queues starts with qk:{<queue>}:."""
    client = store.jobs()
    client.enqueue("app.noop", 1, _queue="a")
    client.enqueue("app.noop", 1, _queue="b", _delay=5, _dedup_key="x")
    client.enqueue("app.noop", 1, _queue="c", _dedup_key="y", _dedup_ttl=5, _job_id="id")
    client.enqueue("app.noop", 1, _queue="c", _dedup_key="y", _dedup_ttl=5)
    keys = store.keys()
    assert b"qk:queues" in keys
    for key in keys:
        assert key == b"qk:queues" or any(key.startswith(f"qk:{{{q}}}:".encode()) for q in "abc")


def test_immediate_mode_runs_the_task_and_stores_its_result(store: Store) -> None:
    """With immediate=True a task runs at enqueue; its result or error is stored, nothing queued."""
    client = store.jobs(make_tasks(), immediate=True)
    assert client.enqueue("app.noop", 5).result(1) == 5  # type: ignore[union-attr]
    assert client.enqueue("app.double", 5).result(1) == 10  # type: ignore[union-attr]
    failed = client.enqueue("app.boom")
    assert failed is not None and failed.status() is JobStatus.FAILED
    with pytest.raises(queuekit.JobFailedError, match="ValueError: boom"):
        failed.result(1)
    assert store.client.llen(Q.ready[1]) == 0


# -- bad input: a clear error, and nothing enqueued ---------------------------------


BAD_CALLS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ((1, {1, 2}), {}, TypeError, r"positional argument 1 of task 'app.noop'.*set"),
    ((1,), {"when": object()}, TypeError, r"keyword argument 'when' .*object"),
    ((b"x" * 2000,), {}, PayloadTooLargeError, r"is 20\d\d bytes, over the limit of 1024 bytes"),
    ((1,), {"_queue": "a{b}"}, InvalidOptionError, "hash tag"),
    ((1,), {"_queue": ""}, InvalidOptionError, "empty"),
    ((1,), {"_priority": 9}, InvalidOptionError, "priority 9 is not a level"),
    ((1,), {"_delay": -1}, InvalidOptionError, "_delay -1 must be finite"),
    ((1,), {"_delay": 1, "_at": 2}, InvalidOptionError, "not both"),
    ((1,), {"_at": datetime.datetime(2030, 1, 1)}, InvalidOptionError, "no timezone"),
    ((1,), {"_job_id": ""}, InvalidOptionError, "_job_id '' must be a non-empty str"),
    ((1,), {"_dedup_ttl": 5}, InvalidOptionError, "needs a _dedup_key"),
    ((1,), {"_dedup_key": "k", "_dedup_ttl": 0}, InvalidOptionError, "_dedup_ttl 0"),
    ((1,), {"_retries": -2}, InvalidOptionError, "retries -2"),
    ((1,), {"_timeout": "5s"}, InvalidOptionError, "not a number of seconds"),
    ((1,), {"_result_ttl": 0}, InvalidOptionError, "_result_ttl 0"),
    ((1,), {"_dealy": 5}, InvalidOptionError, "unknown enqueue option '_dealy'"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), BAD_CALLS)
def test_bad_input_raises_and_enqueues_nothing(
    store: Store, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Each bad enqueue raises a clear error before anything reaches the store."""
    client = store.jobs(settings=JobSettings(max_payload_bytes=1024))
    with pytest.raises(error, match=match):
        client.enqueue("app.noop", *args, **kwargs)
    with pytest.raises(error, match=match):
        client.enqueue_many([call("app.noop", 1), call("app.noop", *args, **kwargs)])
    assert store.keys() == []


def test_module_level_enqueue_uses_queuekit_url(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """queuekit.enqueue("name", ...) reaches the store named by QUEUEKIT_URL."""
    url = store.url or f"memory://jobs-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("QUEUEKIT_URL", url)
    job = queuekit.enqueue("app.noop", 1, _queue="mod")
    assert job is not None and job.status() is JobStatus.QUEUED
    with queuekit.connect(url) as client:
        assert client.llen(queue_keys("mod").ready[1]) == 1
