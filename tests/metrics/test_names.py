"""Every metric queuekit exposes follows Prometheus's naming conventions."""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Metric

from queuekit.client.memory import MemoryClient, MemoryStore
from queuekit.engine.clock import FakeClock
from queuekit.jobs import JobClient, TaskSet
from queuekit.jobs.keys import QUEUES, WORKERS, worker_alive, worker_info
from queuekit.metrics import OUTCOMES, BuildInfoCollector, JobMetrics, StoreCollector
from queuekit.metrics.server import server_registry
from queuekit.metrics.supervisor import SupervisorCollector
from queuekit.server.app import Server

JOB_LABELS = {"queue", "task", "outcome", "reason"}
# The few labels beyond the job labels, each for a bounded set of values.
EXTRA_LABELS = {
    "queuekit_build_info": {"version", "python"},
    "queuekit_server_commands": {"command"},  # the command table's names
    "queuekit_worker_last_progress_timestamp_seconds": {"worker"},  # live workers only
}
TIME_WORDS = re.compile(r"(^|_)(seconds|duration|age|wait|latency|time|timestamp)(_|$)")
SIZE_WORDS = re.compile(r"(^|_)(memory|size|bytes)(_|$)")
FORBIDDEN_UNITS = re.compile(r"(_ms|_milliseconds|_us|_microseconds|_minutes|_hours|_kb|_mb)(_|$)")


def job_metrics() -> CollectorRegistry:
    """A JobMetrics registry in which every hook has run, so every series exists."""
    metrics = JobMetrics()
    for outcome in OUTCOMES:
        metrics.started("q", "t", 0.1)
        metrics.finished("q", "t", outcome, 0.1)
    metrics.retried("q", "t")
    metrics.rate_limited("q", "t")
    metrics.lost("q", "worker_died", 1)
    metrics.redelivered("q", 1)
    metrics.undecodable("q")
    metrics.enqueued("q", "t")
    metrics.deduplicated("q", "t")
    return metrics.registry


def store_metrics() -> CollectorRegistry:
    """A StoreCollector over a store with a queue, stats counters and a live worker."""
    clock = FakeClock()
    memory = MemoryStore(clock=clock)
    client = MemoryClient(memory)
    jobs = JobClient(client, tasks=TaskSet(), clock=clock)
    jobs.enqueue("t", 1)
    jobs.enqueue("t", 2, _dedup_key="k")
    jobs.enqueue("t", 3, _dedup_key="k")
    client.execute(b"SADD", QUEUES, b"q")
    client.execute(b"HSET", b"qk:{q}:stats", b"timed_out", 1, b"scheduler_contention", 2)
    client.execute(b"SADD", WORKERS, b"w")
    client.execute(b"HSET", worker_info("w"), b"queues", b"default", b"concurrency", 4)
    client.execute(b"SET", worker_alive("w"), b"1")
    registry = CollectorRegistry()
    registry.register(StoreCollector(client, clock=clock))
    return registry


def other_metrics() -> CollectorRegistry:
    registry = server_registry(Server())
    supervisor = SupervisorCollector()
    supervisor.worker_restarted("crash")
    registry.register(supervisor)
    return registry


def families() -> Iterator[Metric]:
    for registry in (job_metrics(), store_metrics(), other_metrics()):
        yield from registry.collect()
    yield from BuildInfoCollector().collect()


def test_every_metric_name_follows_prometheus_conventions() -> None:
    """Prefix queuekit_, counters end in _total, time in seconds, sizes in bytes, no _ms."""
    seen = set()
    for family in families():
        name = family.name
        seen.add(name)
        assert name.startswith("queuekit_"), name
        assert not FORBIDDEN_UNITS.search(name), name
        if TIME_WORDS.search(name):
            assert name.endswith("_seconds"), name
        if SIZE_WORDS.search(name):
            assert name.endswith("_bytes"), name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), (
                family.samples
            )
        else:
            assert not name.endswith("_total"), name
        assert family.documentation, f"{name} has no help text"
    assert len(seen) > 40  # every source above contributed


def test_labels_are_the_job_labels_and_a_named_few() -> None:
    """Only queue, task, outcome, reason (and le) label metrics, plus the named exceptions."""
    for family in families():
        allowed = JOB_LABELS | EXTRA_LABELS.get(family.name, set())
        for s in family.samples:
            labels = set(s.labels) - {"le"}
            assert labels <= allowed, (s.name, labels - allowed)


def test_counters_count_and_gauges_do_not_end_in_total_on_the_wire() -> None:
    """Sample names on the wire: a _total sample belongs to a counter, never to a gauge."""
    for family in families():
        if family.type == "gauge":
            assert not any(s.name.endswith("_total") for s in family.samples), family.name
