"""Queue and worker figures read from the store at scrape time: StoreCollector.

    registry.register(StoreCollector(connect(url), queues=None))

`read_figures(client, queues, now_ms)` reads everything in two round trips
(three when a ready list's oldest payload cannot be decoded):

    1. SMEMBERS qk:queues (unless queues are given), SMEMBERS qk:workers,
       GET qk:in_progress, ZSCORE qk:peak in_progress
    2. one pipeline: per queue LLEN and LINDEX -1 of its three ready lists,
       ZCARD scheduled, HGETALL stats, ZSCORE peak in_progress, ZCARD failed,
       ZCARD lost, SCARD dedup; per worker HMGET of its registry hash and
       EXISTS of its heartbeat key
    3. only for an undecodable oldest payload: HGET enqueued_at of the job
       hash its id names (envelope.recover_id)

The oldest ready job of a queue is the tail of one of its ready lists (LPUSH
at the head, BRPOP at the tail); its age counts from `enqueued_at`, the
envelope's and the job hash's (a retry keeps it), so a delayed or retried
job that just became due shows its delay in its age.

Metrics (label `queue` unless said; `worker` is the registry's worker id):

    queuekit_store_up                              1 if the store answered this scrape
    queuekit_store_scrape_duration_seconds         how long reading the figures took
    queuekit_queue_length                          jobs ready (the three lists)
    queuekit_queue_oldest_job_age_seconds          age of the oldest ready job (0: none)
    queuekit_queue_scheduled_jobs                  delayed, retrying and deferred jobs
    queuekit_queue_in_progress_jobs                jobs running now (stats `in_progress`)
    queuekit_queue_in_progress_peak_jobs           the most ever running at once
    queuekit_queue_failed_jobs                     entries in the failed registry
    queuekit_queue_lost_jobs                       entries in the lost set
    queuekit_queue_dedup_keys                      dedup keys held (the dedup set)
    queuekit_queue_concurrency_limit               summed `concurrency` of live workers
    queuekit_queue_<field>_total                   each counter of the stats hash:
                                                   enqueued, succeeded, failed, retried...
    queuekit_in_progress_jobs, queuekit_in_progress_peak_jobs   the same over all queues
    queuekit_workers_registered, queuekit_workers_alive
    queuekit_worker_last_progress_timestamp_seconds{worker}      live workers only

Rules:
1. A store that cannot be reached (or refuses: NOAUTH...) makes a scrape
   expose `queuekit_store_up 0` and the scrape's duration, never raise: the
   endpoint's other figures still reach Prometheus. The change is logged
   once, not every scrape.
2. Keys are read, never written, and named by queuekit/jobs/keys.py. A key
   of the wrong type (WRONGTYPE) reads as empty; a queue name in qk:queues
   that is not a valid queue name is skipped.
3. The stats counters are the store's, so they count every producer and
   worker of every supervisor; JobMetrics counts this supervisor's only,
   with task labels. Stats fields that are levels (`in_progress`) are gauges
   above, not counters; a field whose name is not [a-z][a-z0-9_]* is skipped.
4. Give the collector a client whose URL bounds its waits (`timeout=`,
   `retry_for=`): a scrape waits as long as the client does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from queuekit.engine.clock import Clock, SystemClock
from queuekit.errors import InvalidOptionError, QueuekitError, WrongTypeError
from queuekit.jobs.envelope import decode, recover_id
from queuekit.jobs.keys import (
    IN_PROGRESS,
    PEAK,
    PEAK_MEMBER,
    PRIORITY_LEVELS,
    QUEUES,
    STATS_COUNTERS,
    WORKERS,
    QueueKeys,
    queue_keys,
    validate_queue,
    worker_alive,
    worker_info,
)

log = structlog.get_logger(__name__)

GAUGE_STATS = frozenset({"in_progress"})  # stats fields that are levels, not counts
_COUNTER_FIELD = re.compile(r"[a-z][a-z0-9_]*\Z")
_WORKER_FIELDS = (b"queues", b"last_progress", b"concurrency")
Command = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One queue's figures at one moment."""

    queue: str
    length: int
    oldest_age_s: float
    scheduled: int
    in_progress: int
    peak: int
    failed: int
    lost: int
    dedup: int
    counters: dict[str, int]  # the stats hash's counters (rule 3)


@dataclass(frozen=True, slots=True)
class WorkerFigures:
    """One registered worker process, as the registry describes it."""

    worker_id: str
    alive: bool
    queues: tuple[str, ...]
    last_progress_s: float  # Unix seconds of its last finished job; 0 if none yet
    concurrency: int | None  # None: the registry hash does not say


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """Everything a scrape reads from the store."""

    queues: tuple[QueueFigures, ...]
    workers: tuple[WorkerFigures, ...]
    in_progress: int
    peak: int

    def concurrency_limit(self, queue: str) -> int | None:
        """Summed concurrency of the live workers of `queue`; None while no live worker
        reports its concurrency (a registry written before the field existed)."""
        live = [worker for worker in self.workers if worker.alive]
        if all(worker.concurrency is None for worker in live):
            return None
        return sum(worker.concurrency or 0 for worker in live if queue in worker.queues)


# -- reading ----------------------------------------------------------------------


def _pipeline(client: Any, commands: Sequence[Command]) -> list[Any]:
    """The replies of `commands` in one round trip; WRONGTYPE reads as None (rule 2)."""
    if not commands:
        return []
    pipe = client.pipeline(transaction=False)
    for argv in commands:
        pipe.execute_command(*argv)
    replies: list[Any] = pipe.execute(raise_on_error=False)
    for reply in replies:
        if isinstance(reply, Exception) and not isinstance(reply, WrongTypeError):
            raise reply  # NOAUTH, LOADING...: the store is not answering (rule 1)
    return [None if isinstance(reply, Exception) else reply for reply in replies]


def _int(value: Any) -> int:
    """A counter or score reply as an int; 0 for None or anything unreadable."""
    if value is None:
        return 0
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _queue_names(members: Iterable[bytes]) -> list[str]:
    names = []
    for member in members:
        try:
            names.append(validate_queue(_text(member)))
        except InvalidOptionError:
            continue  # someone else's member of qk:queues: nothing to read (rule 2)
    return sorted(names)


def _queue_commands(keys: QueueKeys) -> list[Command]:
    """The pipeline's commands for one queue, in the order `_queue_figures` reads them."""
    return [
        *((b"LLEN", ready) for ready in keys.ready),
        *((b"LINDEX", ready, -1) for ready in keys.ready),
        (b"ZCARD", keys.scheduled),
        (b"HGETALL", keys.stats),
        (b"ZSCORE", keys.peak, PEAK_MEMBER),
        (b"ZCARD", keys.failed),
        (b"ZCARD", keys.lost),
        (b"SCARD", keys.dedup),
    ]


_QUEUE_REPLIES = 2 * PRIORITY_LEVELS + 6


def _as_map(reply: Any) -> dict[Any, Any]:
    """HGETALL's reply as a dict (RESP2 stores answer a flat list; None: no hash)."""
    if isinstance(reply, dict):
        return reply
    items = list(reply or [])
    return dict(zip(items[0::2], items[1::2], strict=False))


def _counters(stats: dict[Any, Any]) -> dict[str, int]:
    counters = dict.fromkeys(STATS_COUNTERS, 0)  # from zero: see keys.STATS_COUNTERS
    for field, value in stats.items():
        name = _text(field)
        if name not in GAUGE_STATS and _COUNTER_FIELD.match(name):
            counters[name] = _int(value)
    return counters


def _enqueued_at(payload: bytes) -> int | None:
    """The enqueue time (Unix ms) a payload carries; None if it is not an envelope."""
    try:
        return decode(payload).enqueued_at
    except QueuekitError:
        return None


def _oldest_ms(client: Any, keys: QueueKeys, tails: Sequence[Any]) -> int | None:
    """The earliest enqueue time among a queue's list tails (Unix ms), or None."""
    times: list[int] = []
    undecodable_ids: list[str] = []
    for payload in tails:
        if not isinstance(payload, bytes):
            continue
        enqueued = _enqueued_at(payload)
        if enqueued is not None:
            times.append(enqueued)
        elif (job_id := recover_id(payload)) is not None:
            undecodable_ids.append(job_id)
    if undecodable_ids:  # step 3: the job hash still says when
        found = _pipeline(client, [(b"HGET", keys.job(i), b"enqueued_at") for i in undecodable_ids])
        times += [_int(value) for value in found if value is not None]
    return min(times, default=None)


def _queue_figures(
    client: Any, keys: QueueKeys, replies: Sequence[Any], now_ms: int
) -> QueueFigures:
    n = PRIORITY_LEVELS
    lengths, tails = replies[:n], replies[n : 2 * n]
    scheduled, stats, peak, failed, lost, dedup = replies[2 * n :]
    oldest = _oldest_ms(client, keys, tails)
    stats_map = _as_map(stats)
    return QueueFigures(
        queue=keys.queue,
        length=sum(_int(length) for length in lengths),
        oldest_age_s=0.0 if oldest is None else max(now_ms - oldest, 0) / 1000,
        scheduled=_int(scheduled),
        in_progress=_int(stats_map.get(b"in_progress")),
        peak=_int(peak),
        failed=_int(failed),
        lost=_int(lost),
        dedup=_int(dedup),
        counters=_counters(stats_map),
    )


def _worker_figures(worker_id: str, fields: Any, alive: Any) -> WorkerFigures:
    queues, last_progress, concurrency = fields if isinstance(fields, list) else (None,) * 3
    return WorkerFigures(
        worker_id=worker_id,
        alive=bool(_int(alive)),
        queues=tuple(q for q in _text(queues or b"").split(",") if q),
        last_progress_s=_int(last_progress) / 1000,
        concurrency=None if concurrency is None else _int(concurrency),
    )


def read_figures(client: Any, queues: Sequence[str] | None, now_ms: int) -> StoreFigures:
    """The store's queue and worker figures (see the module docstring); raises if it
    cannot be reached."""
    first: list[Command] = [
        (b"SMEMBERS", WORKERS),
        (b"GET", IN_PROGRESS),
        (b"ZSCORE", PEAK, PEAK_MEMBER),
    ]
    if queues is None:
        first.append((b"SMEMBERS", QUEUES))
    workers, in_progress, peak, *found = _pipeline(client, first)
    names = list(queues) if queues is not None else _queue_names(found[0] or ())
    worker_ids = sorted(_text(member) for member in workers or ())
    commands: list[Command] = []
    for name in names:
        commands += _queue_commands(queue_keys(name))
    for worker_id in worker_ids:
        commands.append((b"HMGET", worker_info(worker_id), *_WORKER_FIELDS))
        commands.append((b"EXISTS", worker_alive(worker_id)))
    replies = _pipeline(client, commands)
    size = _QUEUE_REPLIES
    queue_figures = tuple(
        _queue_figures(client, queue_keys(name), replies[i * size : (i + 1) * size], now_ms)
        for i, name in enumerate(names)
    )
    rest = replies[len(names) * size :]
    worker_figures = tuple(
        _worker_figures(worker_id, rest[2 * i], rest[2 * i + 1])
        for i, worker_id in enumerate(worker_ids)
    )
    return StoreFigures(queue_figures, worker_figures, _int(in_progress), _int(peak))


# -- the collector ----------------------------------------------------------------

# name, help, figure: the per-queue gauges.
_QUEUE_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("queuekit_queue_length", "Jobs ready to run (every priority level).", "length"),
    (
        "queuekit_queue_oldest_job_age_seconds",
        "Seconds since the oldest ready job was enqueued; 0 when none is ready.",
        "oldest_age_s",
    ),
    (
        "queuekit_queue_scheduled_jobs",
        "Jobs waiting for a due time: delayed, retrying, deferred by a rate limit.",
        "scheduled",
    ),
    ("queuekit_queue_in_progress_jobs", "Jobs running now.", "in_progress"),
    ("queuekit_queue_in_progress_peak_jobs", "The most jobs ever running at once.", "peak"),
    ("queuekit_queue_failed_jobs", "Jobs in the failed registry.", "failed"),
    ("queuekit_queue_lost_jobs", "Jobs recorded as lost (the lost set).", "lost"),
    ("queuekit_queue_dedup_keys", "Dedup keys held until their jobs finish.", "dedup"),
)
_GAUGE_NAMES = frozenset(name for name, _, _ in _QUEUE_GAUGES) | {
    "queuekit_queue_concurrency_limit"
}


def _queue_families(figures: StoreFigures) -> Iterator[Metric]:
    for name, documentation, attribute in _QUEUE_GAUGES:
        family = GaugeMetricFamily(name, documentation, labels=("queue",))
        for queue in figures.queues:
            family.add_metric((queue.queue,), float(getattr(queue, attribute)))
        yield family
    limit = GaugeMetricFamily(
        "queuekit_queue_concurrency_limit",
        "Jobs the live workers of a queue may run at once (their summed concurrency).",
        labels=("queue",),
    )
    for queue in figures.queues:
        value = figures.concurrency_limit(queue.queue)
        if value is not None:
            limit.add_metric((queue.queue,), float(value))
    yield limit
    yield from _counter_families(figures.queues)


def _counter_families(queues: Sequence[QueueFigures]) -> Iterator[Metric]:
    fields = sorted({field for queue in queues for field in queue.counters})
    for field in fields:
        name = f"queuekit_queue_{field}"
        if name in _GAUGE_NAMES:
            continue  # a stats field named like a gauge would clash with it
        family = CounterMetricFamily(
            name,
            f"Jobs counted as '{field}' in the queue's stats hash, by every "
            "producer and worker of the store.",
            labels=("queue",),
        )
        for queue in queues:
            if field in queue.counters:
                family.add_metric((queue.queue,), float(queue.counters[field]))
        yield family


def _worker_families(figures: StoreFigures) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "queuekit_in_progress_jobs", "Jobs running now, over all queues.", figures.in_progress
    )
    yield GaugeMetricFamily(
        "queuekit_in_progress_peak_jobs",
        "The most jobs ever running at once, over all queues.",
        figures.peak,
    )
    alive = [worker for worker in figures.workers if worker.alive]
    yield GaugeMetricFamily(
        "queuekit_workers_registered",
        "Worker processes in the registry, alive or not yet reaped.",
        len(figures.workers),
    )
    yield GaugeMetricFamily(
        "queuekit_workers_alive", "Worker processes whose heartbeat is current.", len(alive)
    )
    progress = GaugeMetricFamily(
        "queuekit_worker_last_progress_timestamp_seconds",
        "Unix time a live worker process last finished a job; 0 if it has not yet.",
        labels=("worker",),
    )
    for worker in alive:
        progress.add_metric((worker.worker_id,), worker.last_progress_s)
    yield progress


class StoreCollector(Collector):
    """The store's queue and worker figures, read at each scrape (module docstring)."""

    def __init__(
        self, client: Any, queues: Iterable[str] | None = None, *, clock: Clock | None = None
    ) -> None:
        self.client = client
        self.queues = None if queues is None else tuple(validate_queue(q) for q in queues)
        self.clock: Clock = clock or SystemClock()
        self._up = True

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            figures = read_figures(self.client, self.queues, self.clock.now_ms())
        except (QueuekitError, OSError) as error:  # rule 1
            if self._up:
                log.warning("metrics_store_unreachable", error=str(error))
            self._up = False
            yield _up(0)
            yield _duration(started)
            return
        if not self._up:
            log.info("metrics_store_reachable")
        self._up = True
        yield _up(1)
        yield from _queue_families(figures)
        yield from _worker_families(figures)
        yield _duration(started)


def _up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "queuekit_store_up", "1 if the store answered this scrape's reads, else 0.", value
    )


def _duration(started: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "queuekit_store_scrape_duration_seconds",
        "Seconds this scrape spent reading the store.",
        time.perf_counter() - started,
    )
