"""StoreCollector on every store: queue, worker and stats figures read at scrape time."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry

from queuekit.connect import connect
from queuekit.jobs import TaskSet, Worker
from queuekit.jobs.envelope import id_prefix
from queuekit.jobs.keys import (
    QUEUES,
    STATS_COUNTERS,
    WORKERS,
    queue_keys,
    worker_alive,
    worker_info,
)
from queuekit.metrics.store import StoreCollector, read_figures
from tests.jobs.conftest import Store
from tests.support.redis_server import free_port

Q = queue_keys("default")


def scrape(store: Store, queues: list[str] | None = None) -> CollectorRegistry:
    """A fresh registry holding a StoreCollector of `store` on its fake clock."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(store.client, queues, clock=store.clock))
    return registry


def figure(registry: CollectorRegistry, name: str, queue: str | None = "default") -> float | None:
    return registry.get_sample_value(name, {} if queue is None else {"queue": queue})


def demo_tasks() -> TaskSet:
    tasks = TaskSet()

    @tasks.task(name="app.ok")
    def ok(n: int) -> int:
        return n

    @tasks.task(name="app.boom")
    def boom() -> None:
        raise ValueError("boom")

    return tasks


def test_an_empty_store_reads_as_up_with_no_queue(store: Store) -> None:
    """A store with nothing in it answers: store up, no queue series, no worker."""
    registry = scrape(store)
    assert figure(registry, "queuekit_store_up", None) == 1
    assert figure(registry, "queuekit_queue_length") is None
    assert figure(registry, "queuekit_workers_alive", None) == 0
    assert figure(registry, "queuekit_store_scrape_duration_seconds", None) is not None


def test_enqueued_jobs_show_as_length_scheduled_dedup_and_counters(store: Store) -> None:
    """Ready, delayed and deduplicated enqueues show in the queue's gauges and counters."""
    tasks = demo_tasks()
    jobs = store.jobs(tasks)
    jobs.enqueue("app.ok", 1)
    jobs.enqueue("app.ok", 2, _priority="high")
    jobs.enqueue("app.ok", 3, _delay=60)
    jobs.enqueue("app.ok", 4, _dedup_key="once")
    assert jobs.enqueue("app.ok", 5, _dedup_key="once") is None
    registry = scrape(store)
    assert figure(registry, "queuekit_queue_length") == 3
    assert figure(registry, "queuekit_queue_scheduled_jobs") == 1
    assert figure(registry, "queuekit_queue_dedup_keys") == 1
    assert figure(registry, "queuekit_queue_enqueued_total") == 4
    assert figure(registry, "queuekit_queue_deduplicated_total") == 1


def test_the_oldest_job_age_is_read_from_the_oldest_ready_job(store: Store) -> None:
    """The age is the time since the oldest ready job of any priority was enqueued."""
    jobs = store.jobs(demo_tasks())
    jobs.enqueue("app.ok", 1)  # default level, the oldest
    store.clock.advance(2)
    jobs.enqueue("app.ok", 2, _priority="high")
    store.clock.advance(3)
    assert figure(scrape(store), "queuekit_queue_oldest_job_age_seconds") == 5.0


def test_an_undecodable_oldest_payload_is_aged_from_its_job_hash(store: Store) -> None:
    """A damaged payload that still names its job is aged by the job hash's enqueued_at."""
    now = store.clock.now_ms()
    store.client.execute(b"SADD", QUEUES, b"default")
    store.client.execute(b"LPUSH", Q.ready[1], id_prefix("j1") + b"\xc1")
    store.client.execute(b"HSET", Q.job("j1"), b"enqueued_at", now - 4000)
    registry = scrape(store)
    assert figure(registry, "queuekit_queue_length") == 1
    assert figure(registry, "queuekit_queue_oldest_job_age_seconds") == 4.0


def test_a_burst_worker_run_shows_in_the_counters_and_the_failed_registry(store: Store) -> None:
    """After a burst run the queue is empty and successes and failures are counted."""
    tasks = demo_tasks()
    jobs = store.jobs(tasks)
    for n in range(3):
        jobs.enqueue("app.ok", n)
    jobs.enqueue("app.boom")
    Worker(store.client, tasks, clock=store.clock, rng=random.Random(1)).run_burst()
    registry = scrape(store)
    assert figure(registry, "queuekit_queue_length") == 0
    assert figure(registry, "queuekit_queue_oldest_job_age_seconds") == 0
    assert figure(registry, "queuekit_queue_succeeded_total") == 3
    assert figure(registry, "queuekit_queue_failed_total") == 1
    assert figure(registry, "queuekit_queue_failed_jobs") == 1
    assert figure(registry, "queuekit_queue_in_progress_jobs") == 0


def test_in_progress_peak_and_lost_figures_are_read(store: Store) -> None:
    """The stats in_progress level, the peaks and the lost set are read as gauges."""
    store.client.execute(b"SADD", QUEUES, b"default")
    store.client.execute(b"HSET", Q.stats, b"in_progress", 2, b"lost", 1)
    store.client.execute(b"ZADD", Q.peak, 5, b"in_progress")
    store.client.execute(b"ZADD", Q.lost, 1, b"j9")
    store.client.execute(b"SET", b"qk:in_progress", 3)
    store.client.execute(b"ZADD", b"qk:peak", 7, b"in_progress")
    registry = scrape(store)
    assert figure(registry, "queuekit_queue_in_progress_jobs") == 2
    assert figure(registry, "queuekit_queue_in_progress_peak_jobs") == 5
    assert figure(registry, "queuekit_queue_lost_jobs") == 1
    assert figure(registry, "queuekit_queue_lost_total") == 1
    assert figure(registry, "queuekit_queue_in_progress_total") is None  # a level, not a count
    assert figure(registry, "queuekit_in_progress_jobs", None) == 3
    assert figure(registry, "queuekit_in_progress_peak_jobs", None) == 7


def test_workers_are_read_from_the_registry(store: Store) -> None:
    """Registered and live workers, live workers' last progress, and the concurrency limit."""
    live, dead = "h:1:aaaaaa", "h:2:bbbbbb"
    client = store.client
    client.execute(b"SADD", QUEUES, b"default", b"high")
    client.execute(b"SADD", WORKERS, live, dead)
    fields = (b"queues", b"default,high", b"last_progress", 1_700_000_123_000, b"concurrency", 8)
    client.execute(b"HSET", worker_info(live), *fields)
    client.execute(b"HSET", worker_info(dead), b"queues", b"default", b"concurrency", 4)
    client.execute(b"SET", worker_alive(live), b"1", b"PX", 60_000)
    registry = scrape(store)
    assert figure(registry, "queuekit_workers_registered", None) == 2
    assert figure(registry, "queuekit_workers_alive", None) == 1
    progress = "queuekit_worker_last_progress_timestamp_seconds"
    assert registry.get_sample_value(progress, {"worker": live}) == 1_700_000_123.0
    assert registry.get_sample_value(progress, {"worker": dead}) is None
    assert figure(registry, "queuekit_queue_concurrency_limit", "default") == 8
    assert figure(registry, "queuekit_queue_concurrency_limit", "high") == 8


def test_given_queues_limit_the_figures(store: Store) -> None:
    """With queues given, only those are read, known to qk:queues or not."""
    jobs = store.jobs(demo_tasks())
    jobs.enqueue("app.ok", 1)
    jobs.enqueue("app.ok", 1, _queue="other")
    registry = scrape(store, queues=["other", "empty"])
    assert figure(registry, "queuekit_queue_length", "default") is None
    assert figure(registry, "queuekit_queue_length", "other") == 1
    assert figure(registry, "queuekit_queue_length", "empty") == 0


def test_keys_of_the_wrong_type_and_bad_queue_names_do_not_fail_the_scrape(store: Store) -> None:
    """A stats key that is not a hash reads as empty; an invalid name in qk:queues is skipped."""
    store.client.execute(b"SADD", QUEUES, b"default", b"bad{name}")
    store.client.execute(b"SET", Q.stats, b"not a hash")
    store.client.execute(b"LPUSH", Q.ready[1], b"x")
    registry = scrape(store)
    assert figure(registry, "queuekit_store_up", None) == 1
    assert figure(registry, "queuekit_queue_length") == 1
    assert figure(registry, "queuekit_queue_length", "bad{name}") is None
    assert figure(registry, "queuekit_queue_in_progress_jobs") == 0


def test_read_figures_returns_the_same_figures_as_plain_values(store: Store) -> None:
    """read_figures gives the collector's figures as dataclasses, for other readers."""
    store.jobs(demo_tasks()).enqueue("app.ok", 1)
    figures = read_figures(store.client, None, store.clock.now_ms())
    assert [q.queue for q in figures.queues] == ["default"]
    assert figures.queues[0].length == 1
    # Every known counter is there from zero, so Prometheus sees each first event.
    assert figures.queues[0].counters == {**dict.fromkeys(STATS_COUNTERS, 0), "enqueued": 1}


def test_an_unreachable_store_reads_as_down_without_raising() -> None:
    """A store nobody listens for gives queuekit_store_up 0 and the scrape still succeeds."""
    client = connect(f"redis://127.0.0.1:{free_port()}/0?retry_for=0&timeout=5")
    try:
        registry = CollectorRegistry()
        registry.register(StoreCollector(client))
        assert registry.get_sample_value("queuekit_store_up") == 0
        assert registry.get_sample_value("queuekit_queue_length", {"queue": "default"}) is None
        assert registry.get_sample_value("queuekit_store_scrape_duration_seconds") is not None
    finally:
        client.close()
