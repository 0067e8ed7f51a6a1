"""JobMetrics: the counters and histograms the job runtime updates, one call per event.

    metrics = JobMetrics()                      # a fresh CollectorRegistry of its own
    metrics.started("default", "send_email", wait_s=0.004)
    metrics.finished("default", "send_email", "success", duration_s=0.120)
    metrics.flush()                             # at each heartbeat, and before exiting

Names (prefix `queuekit_`, counters `_total`, durations in seconds):

    queuekit_jobs_enqueued_total{queue,task}          producer: jobs enqueued
    queuekit_jobs_deduplicated_total{queue,task}      producer: enqueues refused as duplicates
    queuekit_jobs_started_total{queue,task}           worker: runs started
    queuekit_jobs_completed_total{queue,task,outcome} outcome: success, failure, timeout, cancelled
    queuekit_jobs_retried_total{queue,task}           runs that scheduled a retry
    queuekit_jobs_rate_limited_total{queue,task}      starts deferred by a rate limit
    queuekit_jobs_lost_total{queue,reason}            jobs found lost (a dead worker's...)
    queuekit_jobs_redelivered_total{queue}            at-least-once jobs requeued by the reaper
    queuekit_jobs_undecodable_total{queue}            payloads that were not job envelopes
    queuekit_job_duration_seconds{queue,task}         histogram: run time of a job
    queuekit_job_queue_wait_seconds{queue,task}       histogram: enqueue (or due) to start
    queuekit_worker_jobs_in_flight{queue}             gauge: started and not yet finished

Rules:
1. Labels are queue, task, outcome and reason only: each has few values, so
   the series stay few. `outcome` is one of OUTCOMES (anything else is a
   UsageError: a typo would otherwise mint a series); `reason` is the
   caller's short, fixed word ("worker_died", "shutdown", ...).
2. The per-job hooks (started, finished, retried, rate_limited, enqueued,
   deduplicated) add to plain counts under one lock, and `flush()` hands the
   sums to prometheus_client: one update per series per flush instead of
   seven per job, which in multiprocess mode are each a locked write to an
   mmap'ed file (benchmarks/metrics_overhead.py measures both). A hook
   flushes by itself once FLUSH_INTERVAL_S has passed since the last flush;
   the runtime flushes at each heartbeat (so an idle worker's last jobs show)
   and before its process exits (multiprocessing children skip atexit).
   Until then figures lag by at most that much; a SIGKILLed process loses
   its unflushed counts (the store's counters are exact regardless).
   Collecting the registry flushes first, so an in-process scrape or
   `get_sample_value` is always exact. The rare events (lost, redelivered,
   undecodable) go through at once.
3. `NullMetrics` (also `JobMetrics.noop()`) has the same methods doing
   nothing, for when metrics are off; the runtime never tests for None.
4. In a worker process of a supervisor, prometheus-client's multiprocess mode
   turns every value into a slot of an mmap'ed file (see supervisor.py); the
   in-flight gauge is then "livesum": summed over live processes only.
   Nothing here serves HTTP: the supervisor does, for all its processes.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Metric
from prometheus_client.registry import Collector

from queuekit.errors import UsageError

OUTCOMES = ("success", "failure", "timeout", "cancelled")
_OUTCOME_SET = frozenset(OUTCOMES)
FLUSH_INTERVAL_S = 1.0  # the most a busy worker's figures lag (rule 2)

# Seconds, from 100 µs (a no-op job on a local store) to 10 minutes, roughly
# 1-2.5-5 per decade: enough resolution for p50/p99 of fast jobs and of slow ones.
DURATION_BUCKETS_S = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)
_SLOTS = len(DURATION_BUCKETS_S) + 1  # the buckets and +Inf


class _Observations:
    """Histogram observations not yet flushed: a count per bucket and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * _SLOTS
        self.total = 0.0

    def add(self, seconds: float) -> None:
        # Producer and worker clocks may disagree by a little: never a negative time.
        if seconds > 0.0:
            self.total += seconds
            # bisect_left: the first bound >= seconds, the `le` bucket it falls in.
            self.counts[bisect_left(DURATION_BUCKETS_S, seconds)] += 1
        else:
            self.counts[0] += 1


class _Pending:
    """What happened to one (queue, task) since the last flush."""

    __slots__ = (
        "completed",
        "deduplicated",
        "duration",
        "enqueued",
        "rate_limited",
        "retried",
        "started",
        "wait",
    )

    def __init__(self) -> None:
        self.started = self.retried = self.rate_limited = 0
        self.enqueued = self.deduplicated = 0
        self.completed: dict[str, int] = {}
        self.wait = _Observations()
        self.duration = _Observations()


@dataclass(slots=True)
class _Children:
    """The label children of one (queue, task), made once, touched only by flush."""

    started: Counter
    retried: Counter
    rate_limited: Counter
    enqueued: Counter
    deduplicated: Counter
    wait: Histogram
    duration: Histogram
    completed: dict[str, Counter] = field(default_factory=dict)


def _add_observations(histogram: Histogram, observations: _Observations) -> None:
    """Add a batch of observations to a histogram child, as `observe` adds one.

    prometheus_client has no public call for "n observations in bucket i", so
    this writes the child's bucket and sum values as `Histogram.observe` does
    (tests/metrics/test_jobs.py checks the result matches observe()).
    """
    child: Any = histogram
    for index, count in enumerate(observations.counts):
        if count:
            child._buckets[index].inc(count)
    child._sum.inc(observations.total)


class _FlushFirst(Collector):
    """Registered first, so that collecting the registry flushes pending counts."""

    def __init__(self, metrics: JobMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        self.metrics.flush()
        return iter(())


class JobMetrics:
    """The job metrics on `registry` (a fresh one by default); see the module docstring."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        r = self.registry
        r.register(_FlushFirst(self))
        qt = ("queue", "task")
        self._enqueued = Counter(
            "queuekit_jobs_enqueued", "Jobs enqueued by this process's producers.", qt, registry=r
        )
        self._deduplicated = Counter(
            "queuekit_jobs_deduplicated",
            "Enqueues refused because the job's dedup key or id was already taken.",
            qt,
            registry=r,
        )
        self._started = Counter("queuekit_jobs_started", "Job runs started.", qt, registry=r)
        self._completed = Counter(
            "queuekit_jobs_completed",
            "Job runs finished, by outcome: success, failure, timeout, cancelled.",
            (*qt, "outcome"),
            registry=r,
        )
        self._retried = Counter(
            "queuekit_jobs_retried", "Job runs that ended in a scheduled retry.", qt, registry=r
        )
        self._rate_limited = Counter(
            "queuekit_jobs_rate_limited",
            "Job starts deferred to a later rate window.",
            qt,
            registry=r,
        )
        self._lost = Counter(
            "queuekit_jobs_lost",
            "Jobs found lost, by reason (a dead worker's in-flight jobs, shutdown...).",
            ("queue", "reason"),
            registry=r,
        )
        self._redelivered = Counter(
            "queuekit_jobs_redelivered",
            "At-least-once jobs put back on their queue after their worker died.",
            ("queue",),
            registry=r,
        )
        self._undecodable = Counter(
            "queuekit_jobs_undecodable",
            "Payloads fetched that were not job envelopes.",
            ("queue",),
            registry=r,
        )
        self._duration = Histogram(
            "queuekit_job_duration_seconds",
            "How long job runs took, in seconds.",
            qt,
            registry=r,
            buckets=DURATION_BUCKETS_S,
        )
        self._wait = Histogram(
            "queuekit_job_queue_wait_seconds",
            "Seconds from a job's enqueue (or due time) to its start.",
            qt,
            registry=r,
            buckets=DURATION_BUCKETS_S,
        )
        self._in_flight = Gauge(
            "queuekit_worker_jobs_in_flight",
            "Jobs started and not yet finished, in this supervisor's live worker processes.",
            ("queue",),
            registry=r,
            multiprocess_mode="livesum",
        )
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._in_flight_delta: dict[str, int] = {}
        self._children: dict[tuple[str, str], _Children] = {}
        self._flush_at = time.monotonic() + FLUSH_INTERVAL_S

    @staticmethod
    def noop() -> JobMetrics:
        """Metrics that record nothing (NullMetrics), for when metrics are off."""
        return NullMetrics()

    def _pending_of(self, queue: str, task: str) -> _Pending:
        """The pending counts of (queue, task); call with the lock held."""
        pending = self._pending.get((queue, task))
        if pending is None:
            pending = self._pending[(queue, task)] = _Pending()
        return pending

    # -- worker ------------------------------------------------------------------

    def started(self, queue: str, task: str, wait_s: float) -> None:
        """A run started `wait_s` seconds after the job was enqueued (or became due)."""
        with self._lock:
            pending = self._pending_of(queue, task)
            pending.started += 1
            pending.wait.add(wait_s)
            delta = self._in_flight_delta
            delta[queue] = delta.get(queue, 0) + 1
        if time.monotonic() >= self._flush_at:
            self.flush()

    def finished(
        self, queue: str, task: str, outcome: str, duration_s: float, *, ran: bool = True
    ) -> None:
        """A job ended with `outcome` (one of OUTCOMES).

        With `ran` (the default) it closes a run that `started` opened: its
        `duration_s` is observed and it leaves the in-flight gauge. A job that
        ended without a run (cancelled before its start, an unknown task, a
        failed start) passes ran=False: counted by outcome, nothing else.
        """
        if outcome not in _OUTCOME_SET:
            raise UsageError(
                f"job outcome {outcome!r} is not one of {', '.join(OUTCOMES)}: "
                "each outcome is a label value, so the set is fixed"
            )
        with self._lock:
            pending = self._pending_of(queue, task)
            pending.completed[outcome] = pending.completed.get(outcome, 0) + 1
            if ran:
                pending.duration.add(duration_s)
                delta = self._in_flight_delta
                delta[queue] = delta.get(queue, 0) - 1
        if time.monotonic() >= self._flush_at:
            self.flush()

    def retried(self, queue: str, task: str) -> None:
        """A run ended in a scheduled retry."""
        with self._lock:
            self._pending_of(queue, task).retried += 1

    def rate_limited(self, queue: str, task: str) -> None:
        """A start was deferred to the next rate window."""
        with self._lock:
            self._pending_of(queue, task).rate_limited += 1

    def serving(self, queues: Iterable[str]) -> None:
        """A worker serves `queues`: their rare-event counters start at 0 now, so the
        first loss or redelivery shows in rate() and increase() (a series that
        appears with its first event hides that event from them)."""
        for queue in queues:
            self._lost.labels(queue, "worker_died")
            self._redelivered.labels(queue)
            self._undecodable.labels(queue)

    def lost(self, queue: str, reason: str, count: int = 1) -> None:
        """`count` jobs of `queue` were found lost for `reason` (a short fixed word)."""
        if count > 0:
            self._lost.labels(queue, reason).inc(count)

    def redelivered(self, queue: str, count: int = 1) -> None:
        """`count` at-least-once jobs of `queue` went back on the queue."""
        if count > 0:
            self._redelivered.labels(queue).inc(count)

    def undecodable(self, queue: str) -> None:
        """A payload fetched from `queue` was not a job envelope."""
        self._undecodable.labels(queue).inc()

    # -- producer ----------------------------------------------------------------

    def enqueued(self, queue: str, task: str) -> None:
        """A job was enqueued."""
        with self._lock:
            self._pending_of(queue, task).enqueued += 1
        if time.monotonic() >= self._flush_at:
            self.flush()

    def deduplicated(self, queue: str, task: str) -> None:
        """An enqueue was refused as a duplicate."""
        with self._lock:
            self._pending_of(queue, task).deduplicated += 1

    # -- flushing ----------------------------------------------------------------

    def flush(self) -> None:
        """Hand every pending count to prometheus_client (rule 2); safe from any thread."""
        with self._lock:
            pending, self._pending = self._pending, {}
            in_flight, self._in_flight_delta = self._in_flight_delta, {}
            self._flush_at = time.monotonic() + FLUSH_INTERVAL_S
        for (queue, task), counts in pending.items():
            self._apply(self._children_of(queue, task), queue, task, counts)
        for queue, delta in in_flight.items():
            self._in_flight.labels(queue).inc(delta)  # even 0: the series then exists

    def _children_of(self, queue: str, task: str) -> _Children:
        children = self._children.get((queue, task))
        if children is None:
            children = _Children(
                started=self._started.labels(queue, task),
                retried=self._retried.labels(queue, task),
                rate_limited=self._rate_limited.labels(queue, task),
                enqueued=self._enqueued.labels(queue, task),
                deduplicated=self._deduplicated.labels(queue, task),
                wait=self._wait.labels(queue, task),
                duration=self._duration.labels(queue, task),
            )
            children = self._children.setdefault((queue, task), children)
        return children

    def _apply(self, children: _Children, queue: str, task: str, counts: _Pending) -> None:
        for name in ("started", "retried", "rate_limited", "enqueued", "deduplicated"):
            count = getattr(counts, name)
            if count:
                getattr(children, name).inc(count)
        if counts.started:
            _add_observations(children.wait, counts.wait)
        if any(counts.duration.counts):
            _add_observations(children.duration, counts.duration)
        for outcome, count in counts.completed.items():
            counter = children.completed.get(outcome)
            if counter is None:
                counter = self._completed.labels(queue, task, outcome)
                counter = children.completed.setdefault(outcome, counter)
            counter.inc(count)


class NullMetrics(JobMetrics):
    """JobMetrics that record nothing and register nothing (metrics off)."""

    def __init__(self) -> None:  # an empty registry and no metrics: nothing to pay for
        self.registry = CollectorRegistry()

    def started(self, queue: str, task: str, wait_s: float) -> None:
        pass

    def finished(
        self, queue: str, task: str, outcome: str, duration_s: float, *, ran: bool = True
    ) -> None:
        pass

    def retried(self, queue: str, task: str) -> None:
        pass

    def rate_limited(self, queue: str, task: str) -> None:
        pass

    def serving(self, queues: Iterable[str]) -> None:
        pass

    def lost(self, queue: str, reason: str, count: int = 1) -> None:
        pass

    def redelivered(self, queue: str, count: int = 1) -> None:
        pass

    def undecodable(self, queue: str) -> None:
        pass

    def enqueued(self, queue: str, task: str) -> None:
        pass

    def deduplicated(self, queue: str, task: str) -> None:
        pass

    def flush(self) -> None:
        pass
