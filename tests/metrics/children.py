"""Worker-process stand-ins for the multiprocess tests: spawned children that record jobs."""

from __future__ import annotations

from queuekit.metrics import jobs as job_metrics
from queuekit.metrics import worker_metrics


def record_jobs(jobs: int, leave_one_in_flight: bool, flush_at_end: bool = True) -> None:
    """Record `jobs` successful runs and one lost job, as a worker process would.

    Without `flush_at_end` the hooks flush by themselves (a zero flush interval).
    """
    if not flush_at_end:
        job_metrics.FLUSH_INTERVAL_S = 0.0
    metrics = worker_metrics()
    for _ in range(jobs):
        metrics.started("default", "app.ok", 0.001)
        metrics.finished("default", "app.ok", "success", 0.002)
    metrics.lost("default", "worker_died", 1)
    if leave_one_in_flight:
        metrics.started("default", "app.slow", 0.0)
    if flush_at_end:
        metrics.flush()  # as the runtime does before exiting: multiprocessing skips atexit
