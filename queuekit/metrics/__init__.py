"""Prometheus metrics: what the workers did, what the store holds, what the server serves.

    jobs.py        JobMetrics: the hooks the worker runtime and producers call per event
    store.py       StoreCollector: queue and worker figures read from the store per scrape
    supervisor.py  one endpoint per supervisor over all its worker processes (multiprocess)
    server.py      the queuekit server's own endpoint (`queuekit server --metrics-port`)
    exposition.py  the HTTP endpoint thread and queuekit_build_info

Rules:
1. Every metric lives on an explicit CollectorRegistry; nothing touches
   prometheus_client's global default registry.
2. Prometheus naming: prefix `queuekit_`, counters end in `_total`, durations
   in seconds, sizes in bytes; job labels are queue, task, outcome, reason.
3. Endpoints bind loopback unless told otherwise.
"""

from __future__ import annotations

from queuekit.metrics.exposition import BuildInfoCollector, MetricsEndpoint
from queuekit.metrics.jobs import OUTCOMES, JobMetrics, NullMetrics
from queuekit.metrics.store import StoreCollector, StoreFigures, read_figures
from queuekit.metrics.supervisor import (
    SupervisorMetrics,
    multiprocess_dir,
    scrape_client,
    serve_supervisor_metrics,
    worker_metrics,
)

__all__ = [
    "OUTCOMES",
    "BuildInfoCollector",
    "JobMetrics",
    "MetricsEndpoint",
    "NullMetrics",
    "StoreCollector",
    "StoreFigures",
    "SupervisorMetrics",
    "multiprocess_dir",
    "read_figures",
    "scrape_client",
    "serve_supervisor_metrics",
    "worker_metrics",
]
