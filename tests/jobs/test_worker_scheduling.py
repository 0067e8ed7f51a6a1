"""The worker's use of the scheduler on every store: only when due, and WatchError survived."""

from __future__ import annotations

import random
from typing import Any

import pytest
from structlog.testing import capture_logs

from queuekit.errors import WatchError
from queuekit.jobs import TaskSet, Worker, worker
from queuekit.jobs.keys import queue_keys
from tests.jobs.conftest import Store

Q = queue_keys("default")


def noop_tasks() -> TaskSet:
    """A TaskSet with one task that does nothing."""
    tasks = TaskSet()
    tasks.task(name="app.noop")(lambda *args: None)
    return tasks


def counting_moves(monkeypatch: pytest.MonkeyPatch, fail_first: int = 0) -> list[int]:
    """Wrap the worker's move_due: count calls, raise WatchError on the first `fail_first`."""
    calls: list[int] = []
    real = worker.move_due

    def move_due(client: Any, queue: str, now_ms: int) -> int:
        calls.append(now_ms)
        if len(calls) <= fail_first:
            raise WatchError("gave up after 20 attempts")
        return real(client, queue, now_ms)

    monkeypatch.setattr(worker, "move_due", move_due)
    return calls


def make_worker(store: Store, tasks: TaskSet) -> Worker:
    """A sync burst worker on the store's fake clock."""
    return Worker(store.client, tasks, clock=store.clock, rng=random.Random(3))


def test_move_due_is_not_called_while_nothing_scheduled_is_due(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ready jobs with a job scheduled an hour away: no move_due round trips at all."""
    calls = counting_moves(monkeypatch)
    tasks = noop_tasks()
    jobs = store.jobs(tasks)
    for n in range(5):
        jobs.enqueue("app.noop", n)
    jobs.enqueue("app.noop", "later", _delay=3600)
    assert make_worker(store, tasks).run_burst().succeeded == 5
    assert calls == []
    assert store.client.zcard(Q.scheduled) == 1


def test_a_due_job_is_still_moved_and_run(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once its due time has passed, the scheduled job is moved and run."""
    calls = counting_moves(monkeypatch)
    tasks = noop_tasks()
    store.jobs(tasks).enqueue("app.noop", _delay=5)
    store.clock.advance(ms=5000)
    assert make_worker(store, tasks).run_burst().succeeded == 1
    assert len(calls) == 1


def test_a_watch_error_from_move_due_is_logged_counted_and_survived(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """move_due giving up is logged and counted; the worker tries again and runs the job."""
    counting_moves(monkeypatch, fail_first=1)
    tasks = noop_tasks()
    store.jobs(tasks).enqueue("app.noop", _delay=1)
    store.clock.advance(ms=1000)
    with capture_logs() as logs:
        summary = make_worker(store, tasks).run_burst()
    assert summary.succeeded == 1
    assert store.client.hget(Q.stats, b"scheduler_contention") == b"1"
    events = [entry for entry in logs if entry["event"] == "scheduler_contention"]
    assert events and events[0]["queue"] == "default"
