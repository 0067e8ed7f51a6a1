"""`worker --check` and the registry reader, on a registry written by hand on every store."""

from __future__ import annotations

from typing import Any

import pytest

from queuekit.exitcodes import ExitCode
from queuekit.jobs import keys as K
from queuekit.worker.health import WorkerInfo, check, read_workers
from tests.jobs.conftest import Store

NOW_MS = 1_700_000_100_000
NOW = NOW_MS / 1000
ALIVE_PX = 600_000  # the heartbeat outlives any test, on the fake and the real clocks


def register(
    store: Store,
    worker_id: str,
    *,
    queues: str = "default",
    started_ago_s: float = 3600.0,
    finished_ago_s: float | None = None,
    alive: bool = True,
    **fields: Any,
) -> None:
    """Write one worker into the registry as a worker process would."""
    info: dict[str, Any] = {
        "host": "host-a",
        "pid": 101,
        "queues": queues,
        "reliable_queues": "",
        "started_at": NOW_MS - int(started_ago_s * 1000),
        "jobs_done": 7,
        "in_flight": 2,
        "last_progress": 0 if finished_ago_s is None else NOW_MS - int(finished_ago_s * 1000),
    }
    info.update(fields)
    flat = [item for pair in info.items() for item in pair]
    store.client.execute(b"SADD", K.WORKERS, worker_id)
    store.client.execute(b"HSET", K.worker_info(worker_id), *flat)
    if alive:
        store.client.execute(b"SET", K.worker_alive(worker_id), b"1", b"PX", ALIVE_PX)


def ready(store: Store, queue: str, count: int) -> None:
    """Put `count` payloads on a queue's ready list (the checker only counts them)."""
    store.client.execute(b"LPUSH", K.queue_keys(queue).ready[1], *[b"job"] * count)


def test_no_worker_at_all_is_no_worker(store: Store) -> None:
    """With an empty registry, --check fails NO_WORKER and says which queue has none."""
    code, report = check(store.client, ["default"], now=NOW)
    assert code == ExitCode.NO_WORKER
    assert report == ["queue default: NO_WORKER: no live worker serves it"]


def test_a_live_idle_worker_on_an_empty_queue_is_ok(store: Store) -> None:
    """A live worker that finished nothing for an hour is fine while its queue is empty."""
    register(store, "h:1:aaaaaa")
    code, report = check(store.client, ["default"], stall_after_s=60, now=NOW)
    assert code == ExitCode.OK
    assert report[0].startswith("worker h:1:aaaaaa: alive;")
    assert report[-1].startswith("queue default: OK")


def test_a_worker_making_progress_with_jobs_waiting_is_ok(store: Store) -> None:
    """Jobs waiting are fine while the worker finished one within stall_after_s."""
    register(store, "h:1:aaaaaa", finished_ago_s=10)
    ready(store, "default", 5)
    code, _ = check(store.client, ["default"], stall_after_s=60, now=NOW)
    assert code == ExitCode.OK


def test_a_live_worker_not_consuming_is_stalled(store: Store) -> None:
    """Alive, jobs waiting, nothing finished for longer than stall_after_s: STALLED."""
    register(store, "h:1:aaaaaa", finished_ago_s=120)
    ready(store, "default", 5)
    code, report = check(store.client, ["default"], stall_after_s=60, now=NOW)
    assert code == ExitCode.STALLED
    assert "STALLED" in report[0]
    assert "last finished 120.0 s ago" in report[0]
    assert report[-1].startswith("queue default: STALLED: 5 jobs ready")


def test_a_new_worker_is_judged_from_its_start(store: Store) -> None:
    """A worker that never finished a job is stalled only stall_after_s after it started."""
    register(store, "h:1:aaaaaa", started_ago_s=5)
    ready(store, "default", 1)
    assert check(store.client, ["default"], stall_after_s=60, now=NOW)[0] == ExitCode.OK
    assert check(store.client, ["default"], stall_after_s=1, now=NOW)[0] == ExitCode.STALLED


def test_a_dead_worker_does_not_count(store: Store) -> None:
    """A registered worker whose heartbeat expired is reported dead; the queue has no worker."""
    register(store, "h:1:aaaaaa", alive=False, finished_ago_s=1)
    code, report = check(store.client, ["default"], now=NOW)
    assert code == ExitCode.NO_WORKER
    assert "DEAD" in report[0]


def test_every_queue_needs_a_live_worker(store: Store) -> None:
    """One queue served and another not is NO_WORKER, named in the report."""
    register(store, "h:1:aaaaaa", queues="high,default")
    code, report = check(store.client, ["high", "low"], now=NOW)
    assert code == ExitCode.NO_WORKER
    assert "queue high: OK" in report[-2]
    assert report[-1] == "queue low: NO_WORKER: no live worker serves it"


def test_one_progressing_worker_keeps_a_queue_healthy(store: Store) -> None:
    """A stalled worker beside one that makes progress on the same queue is OK overall."""
    register(store, "h:1:aaaaaa", finished_ago_s=600)
    register(store, "h:2:bbbbbb", finished_ago_s=1)
    ready(store, "default", 3)
    code, report = check(store.client, ["default"], stall_after_s=60, now=NOW)
    assert code == ExitCode.OK
    assert "STALLED" in report[0] and "alive" in report[1]


def test_host_limits_the_check_to_that_hosts_workers(store: Store) -> None:
    """With host given, workers on other hosts do not count."""
    register(store, "h:1:aaaaaa", host="host-a")
    assert check(store.client, ["default"], host="host-a", now=NOW)[0] == ExitCode.OK
    assert check(store.client, ["default"], host="host-b", now=NOW)[0] == ExitCode.NO_WORKER


def test_read_workers_returns_frozen_records(store: Store) -> None:
    """The registry reads back as WorkerInfo records in Unix seconds, sorted by id."""
    register(store, "h:2:bbbbbb", queues="mail", reliable_queues="mail", finished_ago_s=2)
    register(store, "h:1:aaaaaa", alive=False)
    first, second = read_workers(store.client, now=NOW)
    assert first == WorkerInfo(
        id="h:1:aaaaaa",
        host="host-a",
        pid=101,
        queues=("default",),
        started_at=NOW - 3600,
        jobs_done=7,
        in_flight=2,
        last_progress=None,
        alive=False,
        stalled=False,
        reliable_queues=(),
    )
    assert (second.id, second.queues, second.reliable_queues) == (
        "h:2:bbbbbb",
        ("mail",),
        ("mail",),
    )
    assert second.last_progress == NOW - 2
    with pytest.raises(AttributeError):
        second.alive = False  # type: ignore[misc]


def test_a_garbled_entry_is_reported_not_fatal(store: Store) -> None:
    """A half-written registry entry (bad numbers, a bad queue name) reads as zeros."""
    store.client.execute(b"SADD", K.WORKERS, "h:3:cccccc")
    store.client.execute(
        b"HSET", K.worker_info("h:3:cccccc"), b"pid", b"x", b"queues", b"bad{name}"
    )
    (worker,) = read_workers(store.client, now=NOW)
    assert (worker.pid, worker.queues, worker.alive) == (0, ("bad{name}",), False)
    assert check(store.client, ["default"], now=NOW)[0] == ExitCode.NO_WORKER
