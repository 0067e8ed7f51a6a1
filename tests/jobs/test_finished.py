"""Review fixes on every store: finished TTL, requeue dedup, result(), enqueue checks."""

from __future__ import annotations

import random
from typing import Any

import pytest

from queuekit.errors import JobFailedError, ResponseError, UsageError
from queuekit.jobs import TaskSet, Worker
from queuekit.jobs.execution import Context, Invoke, process, run_sync
from queuekit.jobs.failed import FailedJobs
from queuekit.jobs.keys import QUEUES, queue_keys, stored_level
from queuekit.jobs.options import DEFAULT_FINISHED_TTL_S
from queuekit.jobs.prepare import call
from queuekit.jobs.txn import Body, run_body, score_pairs
from tests.jobs.conftest import Store

Q = queue_keys("default")


def burst(store: Store, tasks: TaskSet) -> Any:
    """One sync burst over the default queue on the store's fake clock."""
    return Worker(store.client, tasks, clock=store.clock, rng=random.Random(1)).run_burst()


def expire_now(store: Store, key: bytes, ttl_s: float) -> None:
    """Let `key`'s TTL of `ttl_s` run out: the fake clock on memory://, PEXPIRE 0 elsewhere."""
    if store.memory is not None:
        store.clock.advance(ms=round(ttl_s * 1000) + 1)
    else:
        store.client.execute(b"PEXPIRE", key, 0)


def test_a_succeeded_job_hash_expires_and_its_id_can_be_reused(store: Store) -> None:
    """Success sets the hash's TTL to finished_ttl; once it expires the _job_id is free."""
    tasks = TaskSet()
    tasks.task(name="app.ok")(lambda: 1)
    jobs = store.jobs(tasks)
    assert jobs.enqueue("app.ok", _job_id="fixed") is not None
    assert burst(store, tasks).succeeded == 1
    ttl = store.client.execute(b"TTL", Q.job("fixed"))
    assert 0 < ttl <= DEFAULT_FINISHED_TTL_S
    assert jobs.enqueue("app.ok", _job_id="fixed") is None
    expire_now(store, Q.job("fixed"), ttl)
    assert jobs.enqueue("app.ok", _job_id="fixed") is not None


def test_the_finished_ttl_is_at_least_the_result_ttl(store: Store) -> None:
    """A result kept longer than finished_ttl keeps its hash as long."""
    tasks = TaskSet()
    tasks.task(name="app.ok", finished_ttl=10, result_ttl=500)(lambda: 1)
    store.jobs(tasks).enqueue("app.ok", _job_id="long")
    burst(store, tasks)
    assert 10 < store.client.execute(b"TTL", Q.job("long")) <= 500


def test_a_requeued_job_gets_the_finished_ttl_when_it_succeeds(store: Store) -> None:
    """Requeue keeps the failed TTL (no PERSIST); the success sets finished_ttl."""
    tasks, state = TaskSet(), {"fail": True}

    @tasks.task(name="app.flaky")
    def flaky() -> int:
        if state["fail"]:
            raise ValueError("first time")
        return 1

    job = store.jobs(tasks).enqueue("app.flaky")
    assert job is not None and burst(store, tasks).failed == 1
    assert FailedJobs(store.client).requeue(job.id)
    assert store.client.execute(b"TTL", Q.job(job.id)) > 0
    state["fail"] = False
    assert burst(store, tasks).succeeded == 1
    assert 0 < store.client.execute(b"TTL", Q.job(job.id)) <= DEFAULT_FINISHED_TTL_S


def test_a_requeued_job_does_not_release_a_newer_jobs_dedup_key(store: Store) -> None:
    """A fails, B takes its key K, A is requeued and succeeds: K stays held for B."""
    tasks, state, held = TaskSet(), {"fail": True}, []

    @tasks.task(name="app.once")
    def once(name: str) -> str:
        if name == "b":  # runs after A (a lower level): is K still B's?
            held.append(store.client.execute(b"SISMEMBER", Q.dedup, b"K"))
        if state["fail"]:
            raise ValueError("first time")
        return name

    jobs = store.jobs(tasks)
    first = jobs.enqueue("app.once", "a", _dedup_key="K")
    assert first is not None and burst(store, tasks).failed == 1
    assert jobs.enqueue("app.once", "b", _dedup_key="K", _priority="low") is not None
    assert FailedJobs(store.client).requeue(first.id)
    assert store.client.execute(b"HGET", Q.job(first.id), b"dedup") is None
    state["fail"] = False
    assert burst(store, tasks).succeeded == 2
    assert held == [1]


def test_a_requeued_job_takes_its_free_dedup_key_back(store: Store) -> None:
    """A fails (K released), A is requeued: K is held again until A finishes."""
    tasks, state = TaskSet(), {"fail": True}

    @tasks.task(name="app.once")
    def once() -> None:
        if state["fail"]:
            raise ValueError("first time")

    jobs = store.jobs(tasks)
    job = jobs.enqueue("app.once", _dedup_key="K")
    assert job is not None and burst(store, tasks).failed == 1
    assert store.client.execute(b"SISMEMBER", Q.dedup, b"K") == 0
    assert FailedJobs(store.client).requeue(job.id)
    assert store.client.execute(b"SISMEMBER", Q.dedup, b"K") == 1
    assert jobs.enqueue("app.once", _dedup_key="K") is None
    state["fail"] = False
    assert burst(store, tasks).succeeded == 1
    assert store.client.execute(b"SISMEMBER", Q.dedup, b"K") == 0


def test_result_without_a_stored_result_raises_instead_of_waiting(store: Store) -> None:
    """result() with no timeout on a job that finished without a result raises at once."""
    tasks = TaskSet()
    tasks.task(name="app.ok")(lambda: 1)

    @tasks.task(name="app.bad")
    def bad() -> None:
        raise ValueError("nope")

    jobs = store.jobs(tasks)
    ok, failed = jobs.enqueue("app.ok"), jobs.enqueue("app.bad")
    assert ok is not None and failed is not None
    burst(store, tasks)
    with pytest.raises(UsageError, match="pass _result_ttl"):
        ok.result()
    with pytest.raises(JobFailedError, match="ValueError: nope"):
        failed.result()


def test_async_result_without_a_stored_result_raises_instead_of_waiting(store: Store) -> None:
    """The async handle raises too, instead of blocking for ever."""
    tasks = TaskSet()
    tasks.task(name="app.ok")(lambda: 1)
    job = store.jobs(tasks).enqueue("app.ok")
    assert job is not None
    burst(store, tasks)

    async def main() -> None:
        async with store.async_client() as client:
            with pytest.raises(UsageError, match="without a stored result"):
                await store.async_jobs(client).job(job.id).result()

    store.run(main())


def test_a_stored_result_is_still_returned(store: Store) -> None:
    """The check does not get in the way of a job that kept its result."""
    tasks = TaskSet()
    tasks.task(name="app.kept", result_ttl=60)(lambda: {"x": 1})
    job = store.jobs(tasks).enqueue("app.kept")
    assert job is not None
    burst(store, tasks)
    assert job.result() == {"x": 1}


@pytest.mark.parametrize("value", [123, print, None])
def test_enqueue_of_something_not_a_task_raises_type_error(store: Store, value: Any) -> None:
    """A value that is neither a Task nor a name is refused by name, nothing enqueued."""
    jobs = store.jobs()
    with pytest.raises(TypeError, match="pass a Task or a task name"):
        jobs.enqueue(value)
    with pytest.raises(TypeError, match=repr(value).replace("(", r"\(")[:20]):
        jobs.enqueue_many([call(value)])
    assert store.keys() == []


def test_a_queue_is_announced_again_after_a_failed_sadd(store: Store) -> None:
    """A SADD to qk:queues that fails leaves the queue unannounced, so the next enqueue retries."""
    jobs = store.jobs()
    store.client.execute(b"SET", QUEUES, b"not a set")
    with pytest.raises(ResponseError):
        jobs.enqueue("app.noop")
    store.client.execute(b"DEL", QUEUES)
    assert jobs.enqueue("app.noop") is not None
    assert store.client.execute(b"SISMEMBER", QUEUES, b"default") == 1


def recorded_bodies(store: Store, tasks: TaskSet) -> list[Body]:
    """Drive one job's plan like the sync worker does, keeping every MULTI body it sent."""
    ctx = Context(tasks, store.clock, "w1", random.Random(5))
    bodies: list[Body] = []
    plan = process(ctx, "default", store.client.execute(b"RPOP", Q.ready[1]))
    reply: Any = None
    try:
        while True:
            step = plan.send(reply)
            if isinstance(step, Invoke):
                reply = run_sync(step)
            elif isinstance(step, list):
                bodies.append(step)
                reply = run_body(store.client, step)
            else:
                reply = store.client.execute(*step)
    except StopIteration:
        return bodies


@pytest.mark.parametrize(("name", "status"), [("app.ok", b"succeeded"), ("app.bad", b"failed")])
def test_a_finishing_body_writes_the_status_once(store: Store, name: str, status: bytes) -> None:
    """The success and the failure body (with a result kept) each set the status once."""
    tasks = TaskSet()
    tasks.task(name="app.ok", result_ttl=60)(lambda: 1)

    @tasks.task(name="app.bad", result_ttl=60)
    def bad() -> None:
        raise ValueError("nope")

    store.jobs(tasks).enqueue(name)
    *_, body = recorded_bodies(store, tasks)
    writes = [argv for argv in body if argv[0] == b"HSET" and b"status" in argv[2::2]]
    assert len(writes) == 1 and writes[0][3] == status


def test_score_pairs_reads_the_stores_withscores_reply(store: Store) -> None:
    """score_pairs turns every store's ZRANGE ... WITHSCORES reply into (member, score) pairs."""
    store.client.execute(b"ZADD", Q.scheduled, 5, b"a", 7, b"b")
    reply = store.client.execute(b"ZRANGE", Q.scheduled, 0, -1, b"WITHSCORES")
    assert [(member, int(float(score))) for member, score in score_pairs(reply)] == [
        (b"a", 5),
        (b"b", 7),
    ]
    assert score_pairs([[b"a", 5.0]]) == [(b"a", 5.0)]  # the RESP3 shape


@pytest.mark.parametrize(
    ("stored", "level"), [(None, 1), (b"0", 0), (b"2", 2), (b"3", 1), (b"-1", 1), (b"x", 1)]
)
def test_stored_level_falls_back_to_the_default(stored: bytes | None, level: int) -> None:
    """keys.stored_level reads a stored level, the default for anything unusable."""
    assert stored_level(stored) == level
