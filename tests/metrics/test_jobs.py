"""JobMetrics: each hook moves its series on a fresh registry; NullMetrics records nothing."""

from __future__ import annotations

import threading

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Histogram

from queuekit.errors import UsageError
from queuekit.metrics import OUTCOMES, JobMetrics, NullMetrics
from queuekit.metrics.jobs import DURATION_BUCKETS_S

QT = {"queue": "default", "task": "app.send"}


def value(metrics: JobMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_started_counts_the_start_and_observes_the_wait() -> None:
    """started() counts a start, puts its wait in the right bucket and adds one in flight."""
    metrics = JobMetrics()
    metrics.started("default", "app.send", 0.003)
    assert value(metrics, "queuekit_jobs_started_total", **QT) == 1
    assert value(metrics, "queuekit_job_queue_wait_seconds_count", **QT) == 1
    assert value(metrics, "queuekit_job_queue_wait_seconds_sum", **QT) == pytest.approx(0.003)
    assert value(metrics, "queuekit_job_queue_wait_seconds_bucket", **QT, le="0.0025") == 0
    assert value(metrics, "queuekit_job_queue_wait_seconds_bucket", **QT, le="0.005") == 1
    assert value(metrics, "queuekit_worker_jobs_in_flight", queue="default") == 1


def test_a_negative_wait_counts_as_zero() -> None:
    """A wait made negative by clock skew between hosts is observed as 0 seconds."""
    metrics = JobMetrics()
    metrics.started("default", "app.send", -0.5)
    assert value(metrics, "queuekit_job_queue_wait_seconds_sum", **QT) == 0
    assert value(metrics, "queuekit_job_queue_wait_seconds_bucket", **QT, le="0.0001") == 1


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_finished_counts_by_outcome_and_observes_the_duration(outcome: str) -> None:
    """finished() counts the outcome, observes the duration and takes the job out of flight."""
    metrics = JobMetrics()
    metrics.started("default", "app.send", 0.0)
    metrics.finished("default", "app.send", outcome, 0.0003)
    assert value(metrics, "queuekit_jobs_completed_total", **QT, outcome=outcome) == 1
    others = [o for o in OUTCOMES if o != outcome]
    assert all(
        value(metrics, "queuekit_jobs_completed_total", **QT, outcome=o) is None for o in others
    )
    assert value(metrics, "queuekit_job_duration_seconds_bucket", **QT, le="0.00025") == 0
    assert value(metrics, "queuekit_job_duration_seconds_bucket", **QT, le="0.0005") == 1
    assert value(metrics, "queuekit_job_duration_seconds_bucket", **QT, le="+Inf") == 1
    assert value(metrics, "queuekit_worker_jobs_in_flight", queue="default") == 0


def test_a_job_that_never_ran_is_counted_by_outcome_only() -> None:
    """finished(ran=False) counts the outcome, observes no duration and leaves in-flight alone."""
    metrics = JobMetrics()
    metrics.started("default", "app.send", 0.0)
    metrics.finished("default", "app.other", "cancelled", 0.0, ran=False)
    other = {"queue": "default", "task": "app.other"}
    assert value(metrics, "queuekit_jobs_completed_total", **other, outcome="cancelled") == 1
    assert value(metrics, "queuekit_job_duration_seconds_count", **other) == 0
    assert value(metrics, "queuekit_worker_jobs_in_flight", queue="default") == 1


def test_the_buckets_span_100_microseconds_to_minutes() -> None:
    """A 50 µs job lands in the first bucket, a 5 minute job in a finite one."""
    metrics = JobMetrics()
    metrics.finished("default", "app.send", "success", 0.00005)
    metrics.finished("default", "app.send", "success", 300.0)
    assert value(metrics, "queuekit_job_duration_seconds_bucket", **QT, le="0.0001") == 1
    assert value(metrics, "queuekit_job_duration_seconds_bucket", **QT, le="300.0") == 2


def test_batched_observations_equal_one_observe_per_job() -> None:
    """Flushed batches give the same buckets, count and sum as Histogram.observe one by one."""
    seconds = [0.0, -1.0, 0.0001, 0.00010001, 0.001, 0.0042, 1.0, 2.5, 599.0, 600.0, 601.0, 1e9]
    metrics = JobMetrics()
    reference = CollectorRegistry()
    histogram = Histogram("h_seconds", "h", registry=reference, buckets=DURATION_BUCKETS_S)
    for s in seconds:
        metrics.finished("default", "app.send", "success", s)
        histogram.observe(max(s, 0.0))
    for bound in [*DURATION_BUCKETS_S, float("inf")]:
        le = "+Inf" if bound == float("inf") else repr(bound)
        ours = value(metrics, "queuekit_job_duration_seconds_bucket", **QT, le=le)
        assert ours is not None
        assert ours == reference.get_sample_value("h_seconds_bucket", {"le": le}), le
    assert value(metrics, "queuekit_job_duration_seconds_count", **QT) == len(seconds)
    total = reference.get_sample_value("h_seconds_sum")
    assert value(metrics, "queuekit_job_duration_seconds_sum", **QT) == pytest.approx(total)


def test_flushing_from_another_thread_loses_no_count() -> None:
    """Hooks on several threads and flushes on another add up to every event, exactly."""
    metrics = JobMetrics()
    per_thread, threads = 2000, 4
    done = threading.Event()

    def flusher() -> None:
        while not done.is_set():
            metrics.flush()

    def worker() -> None:
        for _ in range(per_thread):
            metrics.started("default", "app.send", 0.001)
            metrics.finished("default", "app.send", "success", 0.001)

    flushing = threading.Thread(target=flusher)
    flushing.start()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(60)
    done.set()
    flushing.join(60)
    total = per_thread * threads
    assert value(metrics, "queuekit_jobs_started_total", **QT) == total
    assert value(metrics, "queuekit_jobs_completed_total", **QT, outcome="success") == total
    assert value(metrics, "queuekit_job_queue_wait_seconds_count", **QT) == total
    assert value(metrics, "queuekit_worker_jobs_in_flight", queue="default") == 0


def test_an_unknown_outcome_is_refused() -> None:
    """An outcome outside the fixed set raises UsageError naming it and the allowed ones."""
    metrics = JobMetrics()
    with pytest.raises(UsageError, match="'succeeded' is not one of success, failure"):
        metrics.finished("default", "app.send", "succeeded", 0.1)


def test_the_other_hooks_count_their_events() -> None:
    """retried, rate_limited, enqueued, deduplicated, lost, redelivered, undecodable each count."""
    metrics = JobMetrics()
    metrics.retried("default", "app.send")
    metrics.rate_limited("default", "app.send")
    metrics.rate_limited("default", "app.send")
    metrics.enqueued("default", "app.send")
    metrics.deduplicated("default", "app.send")
    metrics.lost("default", "worker_died", 3)
    metrics.lost("default", "worker_died", 0)
    metrics.redelivered("default", 2)
    metrics.undecodable("default")
    assert value(metrics, "queuekit_jobs_retried_total", **QT) == 1
    assert value(metrics, "queuekit_jobs_rate_limited_total", **QT) == 2
    assert value(metrics, "queuekit_jobs_enqueued_total", **QT) == 1
    assert value(metrics, "queuekit_jobs_deduplicated_total", **QT) == 1
    lost = value(metrics, "queuekit_jobs_lost_total", queue="default", reason="worker_died")
    assert lost == 3
    assert value(metrics, "queuekit_jobs_redelivered_total", queue="default") == 2
    assert value(metrics, "queuekit_jobs_undecodable_total", queue="default") == 1


def test_series_are_kept_apart_by_queue_and_task() -> None:
    """Starts of two tasks on two queues land in their own series."""
    metrics = JobMetrics()
    metrics.started("default", "a", 0.0)
    metrics.started("default", "b", 0.0)
    metrics.started("high", "a", 0.0)
    metrics.started("high", "a", 0.0)
    assert value(metrics, "queuekit_jobs_started_total", queue="default", task="a") == 1
    assert value(metrics, "queuekit_jobs_started_total", queue="default", task="b") == 1
    assert value(metrics, "queuekit_jobs_started_total", queue="high", task="a") == 2
    assert value(metrics, "queuekit_worker_jobs_in_flight", queue="default") == 2


def test_metrics_use_their_own_registry_never_the_global_one() -> None:
    """Two JobMetrics live side by side, and the default registry gets no queuekit metric."""
    first, second = JobMetrics(), JobMetrics(CollectorRegistry())
    first.started("default", "a", 0.0)
    assert second.registry.get_sample_value("queuekit_jobs_started_total", QT) is None
    names = {metric.name for metric in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("queuekit") for name in names)


def test_null_metrics_record_nothing() -> None:
    """NullMetrics (and JobMetrics.noop()) take every hook and expose no sample."""
    for metrics in (NullMetrics(), JobMetrics.noop()):
        metrics.started("default", "a", 0.1)
        metrics.finished("default", "a", "whatever", 0.1)
        metrics.retried("default", "a")
        metrics.rate_limited("default", "a")
        metrics.lost("default", "worker_died", 1)
        metrics.redelivered("default", 1)
        metrics.undecodable("default")
        metrics.enqueued("default", "a")
        metrics.deduplicated("default", "a")
        assert isinstance(metrics, JobMetrics)
        assert list(metrics.registry.collect()) == []


def test_serving_starts_the_rare_event_counters_at_zero() -> None:
    """A worker's queues have lost, redelivered and undecodable series at 0 before any
    event, so Prometheus's increase() sees the first one."""
    metrics = JobMetrics()
    metrics.serving(["mail"])
    assert value(metrics, "queuekit_jobs_lost_total", queue="mail", reason="worker_died") == 0
    assert value(metrics, "queuekit_jobs_redelivered_total", queue="mail") == 0
    assert value(metrics, "queuekit_jobs_undecodable_total", queue="mail") == 0
