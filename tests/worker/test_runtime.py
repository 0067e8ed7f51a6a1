"""The worker process runtime on every store: batches, in-flight records, peaks, shutdown,
timeouts, recycling and the reaper of dead workers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from queuekit.errors import StoreConnectionError
from queuekit.exitcodes import ExitCode
from queuekit.jobs import JobStatus, Retry, TaskSet
from queuekit.jobs import keys as K
from queuekit.jobs.envelope import decode
from queuekit.jobs.keys import queue_keys
from queuekit.worker import reaper
from queuekit.worker.process import run_process
from queuekit.worker.runtime import Report, Shutdown, WorkerProcess
from queuekit.worker.settings import WorkerSettings
from tests.jobs.conftest import Store

Q = queue_keys("default")
WAIT_S = 60  # generous bound on any wait in these tests


def settings(**overrides: Any) -> WorkerSettings:
    base: dict[str, Any] = {"burst": True, "concurrency": 4}
    return WorkerSettings(**{**base, **overrides})


def run(
    store: Store,
    tasks: TaskSet,
    during: Callable[[WorkerProcess, Any], Awaitable[None]] | None = None,
    **overrides: Any,
) -> Report:
    """Run one worker process on a fresh async client; `during` runs beside it."""

    async def main() -> Report:
        async with store.async_client() as client:
            worker = WorkerProcess(settings(**overrides), tasks, client, clock=store.clock)
            if during is None:
                return await worker.run()
            async with asyncio.timeout(WAIT_S):
                running = asyncio.create_task(worker.run())
                await during(worker, client)
                return await running

    result: Report = store.run(main())
    return result


def stats(store: Store) -> dict[str, int]:
    raw = store.client.execute(b"HGETALL", Q.stats)
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    return {key.decode(): int(value) for key, value in pairs}


def peak(store: Store, key: bytes) -> int:
    return int(float(store.client.execute(b"ZSCORE", key, K.PEAK_MEMBER) or 0))


def leftover(store: Store, *markers: bytes) -> list[bytes]:
    """The keys of the store with any of `markers` in their name."""
    names: list[bytes] = store.keys()
    return [name for name in names if any(marker in name for marker in markers)]


def status(store: Store, job_id: str) -> JobStatus:
    return JobStatus.from_stored(store.client.execute(b"HGET", Q.job(job_id), b"status"))


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (generously bounded by the caller's timeout) until `check` holds."""
    while True:
        if await check():
            return
        await asyncio.sleep(0.005)


# -- running jobs ---------------------------------------------------------------------


def test_burst_runs_every_job_and_leaves_the_books_balanced(store: Store) -> None:
    """Sync and async jobs all succeed; in-progress counters end at zero, the registry empty."""
    tasks = TaskSet()
    seen: list[int] = []

    @tasks.task(name="sync")
    def sync(n: int) -> None:
        seen.append(n)

    @tasks.task(name="async")
    async def coro(n: int) -> None:
        seen.append(-n)

    jobs = store.jobs(tasks)
    for n in range(1, 21):
        jobs.enqueue(sync if n % 2 else coro, n)
    report = run(store, tasks)
    assert report.summary.succeeded == 20 and report.exit_code is ExitCode.OK
    assert sorted(abs(n) for n in seen) == list(range(1, 21))
    assert stats(store)["in_progress"] == 0
    assert int(store.client.execute(b"GET", K.IN_PROGRESS)) == 0
    assert store.client.execute(b"SMEMBERS", K.WORKERS) in ([], set())
    assert not leftover(store, b":running:", b"qk:worker:")


def test_peak_is_exact_over_two_workers(store: Store) -> None:
    """Two workers of concurrency 4 running jobs that wait for each other report a peak of 8."""
    tasks = TaskSet()
    arrived = {"n": 0}
    all_in = asyncio.Event()

    @tasks.task(name="meet")
    async def meet(blocking: bool) -> None:
        if blocking:
            arrived["n"] += 1
            if arrived["n"] == 8:
                all_in.set()
            await all_in.wait()

    jobs = store.jobs(tasks)
    for n in range(12):
        jobs.enqueue(meet, n < 8)

    async def main() -> list[Report]:
        async with store.async_client() as one, store.async_client() as two:
            workers = [
                WorkerProcess(settings(), tasks, client, clock=store.clock) for client in (one, two)
            ]
            async with asyncio.timeout(WAIT_S):
                return list(await asyncio.gather(*(worker.run() for worker in workers)))

    reports = store.run(main())
    assert sum(report.summary.succeeded for report in reports) == 12
    assert peak(store, Q.peak) == 8
    assert peak(store, K.PEAK) == 8
    assert stats(store)["in_progress"] == 0


def _holding(store: Store, count: int) -> tuple[TaskSet, asyncio.Event, set[str]]:
    """`count` queued jobs of a task that runs until the event is set, and their ids."""
    tasks = TaskSet()
    release = asyncio.Event()

    @tasks.task(name="hold")
    async def hold() -> None:
        await release.wait()

    jobs = store.jobs(tasks)
    ids = {job.id for job in (jobs.enqueue(hold) for _ in range(count)) if job is not None}
    return tasks, release, ids


def test_a_worker_never_fetches_more_than_it_can_start(store: Store) -> None:
    """With concurrency 2 and blocked jobs, the rest stay in the ready list."""
    tasks, release, _ = _holding(store, 6)

    async def during(worker: WorkerProcess, client: Any) -> None:
        await until(lambda: _running(client, 2))
        assert await client.execute(b"LLEN", Q.ready[1]) == 4
        assert worker.in_flight == 2
        release.set()

    report = run(store, tasks, during, concurrency=2)
    assert report.summary.succeeded == 6


def test_jobs_that_end_at_once_share_the_flush_of_their_start(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No flush goes out with only a start's peaks when its jobs end at once: a batch
    costs two round trips, its start and its finish."""
    tasks = TaskSet()

    @tasks.task(name="noop")
    async def noop() -> None:
        return None

    jobs = store.jobs(tasks)
    for _ in range(12):
        jobs.enqueue(noop)
    flushed: list[int] = []
    flush = WorkerProcess._flush

    async def counting(worker: WorkerProcess, finished: list[Any]) -> None:
        flushed.append(len(finished))
        await flush(worker, finished)

    monkeypatch.setattr(WorkerProcess, "_flush", counting)
    report = run(store, tasks)
    assert report.summary.succeeded == 12
    assert sum(flushed) == 12 and 0 not in flushed
    assert peak(store, Q.peak) == 4


def test_the_peak_is_written_while_the_jobs_still_run(store: Store) -> None:
    """A start's peak reaches the store without waiting for its jobs to end."""
    tasks, release, _ = _holding(store, 3)

    async def during(worker: WorkerProcess, client: Any) -> None:
        async def written() -> bool:
            score = await client.execute(b"ZSCORE", Q.peak, K.PEAK_MEMBER)
            return score is not None and int(float(score)) == 3

        await until(written)
        release.set()

    report = run(store, tasks, during)
    assert report.summary.succeeded == 3


async def _running(client: Any, count: int) -> bool:
    value = await client.execute(b"HGET", Q.stats, b"in_progress")
    return value is not None and int(value) == count


def test_outcomes_other_than_success_release_their_slot(store: Store) -> None:
    """Unknown tasks, retries and failures are written and counted; in_progress ends at 0."""
    tasks = TaskSet()
    calls = {"flaky": 0}

    @tasks.task(name="flaky")
    def flaky() -> None:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise Retry(0)

    @tasks.task(name="broken")
    def broken() -> None:
        raise ValueError("no")

    jobs = store.jobs(tasks)
    jobs.enqueue(flaky)
    jobs.enqueue(broken)
    jobs.enqueue("nobody.knows.me")
    report = run(store, tasks)
    assert report.summary.succeeded == 1
    assert report.summary.retried == 1
    assert report.summary.failed == 2
    assert stats(store)["in_progress"] == 0


# -- timeouts, recycling, shutdown ---------------------------------------------------


def test_a_sync_job_past_its_timeout_fails_and_the_process_asks_to_be_recycled(
    store: Store,
) -> None:
    """The job is failed as timed out at its deadline, its thread abandoned, exit RECYCLE."""
    tasks = TaskSet()
    let_go = threading.Event()

    @tasks.task(name="stuck", timeout=0.05)
    def stuck() -> None:
        let_go.wait(WAIT_S)

    job = store.jobs(tasks).enqueue(stuck)
    assert job is not None
    try:
        report = run(store, tasks)
    finally:
        let_go.set()
    assert report.summary.failed == 1
    assert report.abandoned == 1 and report.exit_code is ExitCode.RECYCLE
    assert status(store, job.id) is JobStatus.FAILED
    assert stats(store)["timed_out"] == 1


def test_max_jobs_stops_the_process_for_recycling(store: Store) -> None:
    """After max_jobs jobs a process stops taking more and exits RECYCLE."""
    tasks = TaskSet()

    @tasks.task(name="noop")
    async def noop() -> None:
        return None

    jobs = store.jobs(tasks)
    for _ in range(5):
        jobs.enqueue(noop)
    report = run(store, tasks, max_jobs=3)
    assert report.summary.succeeded == 3
    assert report.exit_code is ExitCode.RECYCLE
    assert store.client.execute(b"LLEN", Q.ready[1]) == 2


def _slow_tasks(started: asyncio.Event | None = None) -> TaskSet:
    tasks = TaskSet()

    @tasks.task(name="slow")
    async def slow(seconds: float) -> None:
        if started is not None:
            started.set()
        await asyncio.sleep(seconds)

    return tasks


async def _stop_when_running(worker: WorkerProcess, client: Any, twice: bool = False) -> None:
    await until(lambda: _running(client, 1))
    worker.shutdown.request()
    if twice:
        worker.shutdown.request()


def test_graceful_shutdown_lets_a_running_job_finish(store: Store) -> None:
    """After the first stop request the running job completes and no new job is taken."""
    tasks = _slow_tasks()
    jobs = store.jobs(tasks)
    jobs.enqueue(tasks["slow"], 0.2)
    jobs.enqueue(tasks["slow"], 0.0)
    report = run(store, tasks, _stop_when_running, burst=False, concurrency=1)
    assert report.summary.succeeded == 1
    assert report.exit_code is ExitCode.OK
    assert store.client.execute(b"LLEN", Q.ready[1]) == 1


def test_a_job_past_the_shutdown_deadline_is_failed_with_reason_shutdown(store: Store) -> None:
    """At-most-once: the job still running at the deadline is cancelled and recorded failed."""
    tasks = _slow_tasks()
    job = store.jobs(tasks).enqueue(tasks["slow"], 3600.0)
    assert job is not None
    report = run(store, tasks, _stop_when_running, burst=False, shutdown_timeout_s=0.1)
    assert report.cancelled == 1 and report.exit_code is ExitCode.DRAIN_TIMEOUT
    assert status(store, job.id) is JobStatus.FAILED
    error = store.client.execute(b"HGET", Q.job(job.id), b"error_type")
    assert error == b"WorkerShutdown"
    assert stats(store)["in_progress"] == 0


def test_a_second_stop_request_cancels_at_once(store: Store) -> None:
    """Two requests: no waiting for the (long) shutdown timeout."""
    tasks = _slow_tasks()
    job = store.jobs(tasks).enqueue(tasks["slow"], 3600.0)
    assert job is not None

    async def twice(worker: WorkerProcess, client: Any) -> None:
        await _stop_when_running(worker, client, twice=True)

    report = run(store, tasks, twice, burst=False, shutdown_timeout_s=3600.0)
    assert report.cancelled == 1
    assert status(store, job.id) is JobStatus.FAILED


class _Unreachable:
    """A pipeline to a store that is gone: every round trip fails to connect."""

    def execute_command(self, *argv: Any) -> None:
        pass

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        raise StoreConnectionError("cannot connect to the store (test: it is gone)")


@pytest.mark.parametrize("requests", [1, 2], ids=["at the deadline", "at a second signal"])
def test_a_worker_asked_to_stop_gives_up_on_a_gone_store_and_names_what_it_lost(
    store: Store, requests: int
) -> None:
    """Stopping with the store away: outcomes wait for it until the shutdown deadline
    (or a second signal), then the worker ends, naming the jobs whose outcome the
    store never got, with the store-unavailable exit code. Never a worker that
    outlives its supervisor for ever."""
    tasks, release, ids = _holding(store, 3)

    async def store_goes_away(worker: WorkerProcess, client: Any) -> None:
        await until(lambda: _running(client, 3))
        worker.client.pipeline = lambda transaction=False: _Unreachable()  # type: ignore[method-assign]
        for _ in range(requests):
            worker.shutdown.request()
        release.set()

    timeout = 0.3 if requests == 1 else 3600.0
    with capture_logs() as logs:
        # Every slot taken: the fetch loop waits for one to free, which no flush will do.
        report = run(
            store, tasks, store_goes_away, burst=False, concurrency=3, shutdown_timeout_s=timeout
        )
    assert report.unrecorded == 3
    assert report.exit_code is ExitCode.STORE_UNAVAILABLE
    named = [entry for entry in logs if entry["event"] == "outcomes_not_recorded"]
    assert {job_id for entry in named for job_id in entry["job_ids"]} == ids


def test_at_least_once_requeues_a_job_cancelled_at_shutdown(store: Store) -> None:
    """At-least-once: the cancelled job goes back to its list with attempt+1, counted."""
    tasks = _slow_tasks()
    job = store.jobs(tasks).enqueue(tasks["slow"], 3600.0)
    assert job is not None
    report = run(
        store,
        tasks,
        _stop_when_running,
        burst=False,
        shutdown_timeout_s=0.1,
        at_least_once=("*",),
    )
    assert report.summary.requeued == 1
    payloads = store.client.execute(b"LRANGE", Q.ready[1], 0, -1)
    assert [decode(payload).attempt for payload in payloads] == [1]
    assert status(store, job.id) is JobStatus.QUEUED
    assert stats(store)["redelivered"] == 1
    assert not leftover(store, b":processing:")


# -- at-least-once fetching -----------------------------------------------------------


def test_at_least_once_keeps_strict_priority_and_acknowledges(store: Store) -> None:
    """Reliable fetching takes levels in order and leaves no processing list behind."""
    tasks = TaskSet()
    order: list[str] = []

    @tasks.task(name="note")
    def note(label: str) -> None:
        order.append(label)

    jobs = store.jobs(tasks)
    jobs.enqueue(note, "low-1", _priority="low")
    jobs.enqueue(note, "default-1")
    jobs.enqueue(note, "high-1", _priority="high")
    jobs.enqueue(note, "default-2")
    report = run(store, tasks, concurrency=1, at_least_once=("default",))
    assert report.summary.succeeded == 4
    assert order == ["high-1", "default-1", "default-2", "low-1"]
    assert not leftover(store, b":processing:", b":running:")


# -- several queues ------------------------------------------------------------------------


def _noting_tasks() -> tuple[TaskSet, list[str]]:
    tasks, order = TaskSet(), []

    @tasks.task(name="note")
    def note(label: str) -> None:
        order.append(label)

    return tasks, order


@pytest.mark.parametrize("reliable", [(), ("second",)], ids=["at-most-once", "mixed"])
def test_a_worker_of_several_queues_takes_them_in_order(
    store: Store, reliable: tuple[str, ...]
) -> None:
    """The first queue's jobs run first (on a cluster, queues are fetched in turn)."""
    tasks, order = _noting_tasks()
    jobs = store.jobs(tasks)
    for n in range(3):
        jobs.enqueue("note", f"second-{n}", _queue="second")
    for n in range(3):
        jobs.enqueue("note", f"first-{n}", _queue="first")
    report = run(store, tasks, concurrency=1, queues=("first", "second"), at_least_once=reliable)
    assert report.summary.succeeded == 6
    assert order == [f"first-{n}" for n in range(3)] + [f"second-{n}" for n in range(3)]


def test_an_idle_worker_of_several_queues_takes_a_job_from_a_later_one(store: Store) -> None:
    """A job enqueued on the second queue while the worker waits is run."""
    tasks, order = _noting_tasks()

    async def during(worker: WorkerProcess, client: Any) -> None:
        await asyncio.sleep(0.3)  # the worker waits on empty queues
        await store.async_jobs(client, tasks).enqueue("note", "late", _queue="second")

        async def ran() -> bool:
            return order == ["late"]

        await until(ran)
        worker.shutdown.request()

    run(store, tasks, during, burst=False, queues=("first", "second"))
    assert order == ["late"]


# -- a pop the store lost -----------------------------------------------------------------


def test_a_job_delivered_again_after_it_ran_is_run_and_counted(store: Store) -> None:
    """As when a failover rolls back its pop: it runs again; stats count it."""
    tasks, order = _noting_tasks()
    job = store.jobs(tasks).enqueue("note", "once")
    assert job is not None
    payload = store.client.execute(b"LRANGE", Q.ready[1], 0, -1)[0]
    run(store, tasks)
    store.client.execute(b"LPUSH", Q.ready[1], payload)  # the rolled-back pop
    with capture_logs() as logs:
        report = run(store, tasks)
    assert report.summary.succeeded == 1
    assert order == ["once", "once"]
    assert stats(store)["delivered_twice"] == 1
    twice = [entry for entry in logs if entry["event"] == "job_delivered_twice"]
    assert [(entry["job_id"], entry["status"]) for entry in twice] == [(job.id, "succeeded")]


# -- the reaper ---------------------------------------------------------------------------


def _dead_worker(store: Store, worker: str, job_ids: list[str]) -> None:
    """A registry entry whose heartbeat is gone, holding `job_ids` in flight."""
    client = store.client
    client.execute(b"SADD", K.WORKERS, worker)
    client.execute(b"HSET", K.worker_info(worker), b"queues", b"default")
    if job_ids:
        pairs = [item for job_id in job_ids for item in (job_id, 1)]
        client.execute(b"HSET", Q.running(worker), *pairs)
        client.execute(b"HINCRBY", Q.stats, b"in_progress", len(job_ids))
        client.execute(b"INCRBY", K.IN_PROGRESS, len(job_ids))


def test_the_jobs_of_a_dead_worker_are_counted_lost_with_their_ids(store: Store) -> None:
    """At-most-once: found through the expired heartbeat and the in-flight record."""
    tasks = _slow_tasks()
    job = store.jobs(tasks).enqueue(tasks["slow"], 0.0)
    assert job is not None
    store.client.execute(b"LPOP", Q.ready[1])  # taken by the worker that then died
    store.client.execute(b"HSET", Q.job(job.id), b"status", b"running")
    _dead_worker(store, "ghost:1:aaaaaa", [job.id])
    with capture_logs() as logs:
        run(store, tasks)
    assert status(store, job.id) is JobStatus.LOST
    assert store.client.execute(b"ZSCORE", Q.lost, job.id) is not None
    assert stats(store)["lost"] == 1 and stats(store)["in_progress"] == 0
    assert int(store.client.execute(b"GET", K.IN_PROGRESS)) == 0
    assert b"ghost:1:aaaaaa" not in store.client.execute(b"SMEMBERS", K.WORKERS)
    lost = [entry for entry in logs if entry["event"] == "jobs_lost"]
    assert lost and lost[0]["ids"] == [job.id]


def test_a_dead_reliable_worker_s_job_is_delivered_again_once(store: Store) -> None:
    """At-least-once: the payload in its processing list runs again, attempt+1, counted."""
    tasks = TaskSet()
    attempts: list[int] = []

    @tasks.task(name="work")
    def work() -> None:
        attempts.append(1)

    job = store.jobs(tasks).enqueue(work)
    assert job is not None
    dead = "ghost:2:bbbbbb"
    store.client.execute(b"LMOVE", Q.ready[1], Q.processing(dead), b"RIGHT", b"LEFT")
    _dead_worker(store, dead, [job.id])
    report = run(store, tasks, at_least_once=("*",))
    assert report.summary.succeeded == 1 and attempts == [1]
    assert store.client.execute(b"HGET", Q.job(job.id), b"attempt") == b"1"
    assert stats(store)["redelivered"] == 1
    assert stats(store).get("lost", 0) == 0
    assert stats(store)["in_progress"] == 0


def test_racing_reapers_settle_a_dead_worker_once(store: Store) -> None:
    """Eight reapers at once: the jobs are counted lost exactly once."""
    _dead_worker(store, "ghost:3:cccccc", ["j1", "j2"])

    async def main() -> list[reaper.Reaped]:
        clients = [store.async_client() for _ in range(8)]
        try:
            return list(
                await asyncio.gather(
                    *(reaper.settle(client, "default", "ghost:3:cccccc", 1) for client in clients)
                )
            )
        finally:
            for client in clients:
                await client.aclose()

    results = store.run(main())
    assert sorted(len(result.lost) for result in results) == [0] * 7 + [2]
    assert stats(store)["lost"] == 2


def test_an_unreachable_store_exits_store_unavailable() -> None:
    """run_process names the reason in its exit code when the store cannot be reached."""
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = run_process(WorkerSettings(url=f"redis://127.0.0.1:{port}/0", burst=True), TaskSet())
    assert code is ExitCode.STORE_UNAVAILABLE


@pytest.mark.parametrize("requests", [1, 2])
def test_shutdown_requests_escalate(requests: int) -> None:
    """The first request is graceful, the second immediate."""

    async def main() -> tuple[bool, bool]:
        shutdown = Shutdown()
        for _ in range(requests):
            shutdown.request()
        return shutdown.graceful.is_set(), shutdown.immediate.is_set()

    assert asyncio.run(main()) == (True, requests == 2)


def test_a_store_emptied_mid_job_leaves_counters_right_and_the_worker_registered(
    store: Store,
) -> None:
    """As after a restart without persistence: the outcome lands, in_progress ends at 0."""
    tasks = _slow_tasks()
    job = store.jobs(tasks).enqueue(tasks["slow"], 0.3)
    assert job is not None

    async def during(worker: WorkerProcess, client: Any) -> None:
        await until(lambda: _running(client, 1))
        store.flushall()
        store.clock.advance(1.0)  # the next heartbeat is due
        await until(lambda: _registered(client, worker.worker_id))
        await until(lambda: _done(client, job.id))
        worker.shutdown.request()

    with capture_logs() as logs:
        run(store, tasks, during, burst=False, heartbeat_interval_s=0.05)
    assert status(store, job.id) is JobStatus.SUCCEEDED
    assert stats(store)["in_progress"] == 0
    assert int(store.client.execute(b"GET", K.IN_PROGRESS)) == 0
    missing = [entry["count"] for entry in logs if entry["event"] == "in_flight_records_missing"]
    assert missing == [1]
    assert stats(store)["records_missing"] == 1


async def _registered(client: Any, worker_id: str) -> bool:
    return bool(await client.execute(b"SISMEMBER", K.WORKERS, worker_id))


async def _done(client: Any, job_id: str) -> bool:
    return await client.execute(b"HGET", Q.job(job_id), b"status") == b"succeeded"


def test_periodic_tasks_are_enqueued_and_run_by_the_worker(store: Store) -> None:
    """The runtime drives periodic ticks: the latest tick runs at start, the next on time."""
    tasks = TaskSet()
    runs: list[str] = []

    @tasks.periodic(every=60, args=("tick",))
    async def beat(label: str) -> None:
        runs.append(label)

    async def during(worker: WorkerProcess, client: Any) -> None:
        await until(lambda: _stat(client, b"succeeded", 1))
        store.clock.advance(60.0)
        await until(lambda: _stat(client, b"succeeded", 2))
        worker.shutdown.request()

    run(store, tasks, during, burst=False)
    assert runs == ["tick", "tick"]
    assert stats(store)["periodic_enqueued"] == 2


async def _stat(client: Any, field: bytes, value: int) -> bool:
    found = await client.execute(b"HGET", Q.stats, field)
    return found is not None and int(found) >= value


def test_a_job_started_at_once_still_releases_its_dedup_key(store: Store) -> None:
    """Jobs that run beside their start round trip release their dedup key on finish,
    and a rate-limited task (which waits for its count) is still limited."""
    tasks = TaskSet()

    @tasks.task(name="plain")
    async def plain() -> None:
        return None

    @tasks.task(name="limited", rate_limit="1/h")
    async def limited() -> None:
        return None

    jobs = store.jobs(tasks)
    assert jobs.enqueue(plain, _dedup_key="once") is not None
    assert jobs.enqueue(plain, _dedup_key="once") is None
    jobs.enqueue(limited)
    jobs.enqueue(limited)
    report = run(store, tasks)
    assert report.summary.succeeded == 2 and report.summary.rate_limited == 1
    assert not store.client.execute(b"SISMEMBER", Q.dedup, b"once")
    assert jobs.enqueue(plain, _dedup_key="once") is not None
