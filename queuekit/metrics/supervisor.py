"""One /metrics endpoint per supervisor, covering every worker process it runs.

The supervisor, before it spawns a worker process:

    with multiprocess_dir():                        # sets PROMETHEUS_MULTIPROC_DIR
        endpoint = serve_supervisor_metrics("127.0.0.1", 9400, lambda: scrape_client(url))
        ... spawn worker processes ...
        endpoint.worker_restarted("crash")          # each restart, by reason
        endpoint.worker_exited(pid)                 # each child that exited
        endpoint.close()

and each worker process:

    metrics = worker_metrics()     # JobMetrics writing to the shared folder, or NullMetrics
    metrics.flush()                # at each heartbeat, and before the process exits

The endpoint serves, from one CollectorRegistry of its own:
- MultiProcessCollector: the JobMetrics of every worker process, summed;
- StoreCollector: queue and worker figures read from the store at scrape time;
- the supervisor's own figures: queuekit_supervisor_worker_restarts_total{reason};
- queuekit_build_info.

prometheus-client's multiprocess mode, and the limits queuekit lives with:
1. Each process writes its values to mmap'ed files named after its pid in
   PROMETHEUS_MULTIPROC_DIR; the collector sums counters and histograms
   over every file, those of processes that exited included, so a restart
   loses no count. The folder must start empty: `multiprocess_dir` makes a
   fresh one and removes it at exit. Files pile up by one set per process
   ever started; restarts are bounded (the supervisor's crash-loop limit).
2. The mode is chosen when prometheus_client is first imported in a process,
   from the environment variable: a worker process must inherit it (spawn a
   new interpreter after `multiprocess_dir()` set it). A forked child keeps
   its parent's choice: do not fork. `worker_metrics()` refuses a process
   where the variable is set but the mode is off, instead of counting nothing.
3. Gauges need a multiprocess_mode: the in-flight gauge is "livesum", summed
   over live processes; `worker_exited(pid)` deletes a dead process's live
   gauges (mark_process_dead), else its last value would stay in the sum.
4. Custom collectors, Info and Enum metrics, Gauge.set_function, exemplars,
   and removing label sets do not work across processes. So the worker
   processes hold only JobMetrics' counters, histograms and gauge; the
   store's figures and the build info are custom collectors that run in the
   supervisor's process, at scrape time, and are not written to the files.
5. A gauge may not carry a `pid` label: the collector adds its own.
6. A scrape reads every file: its cost grows with processes x series.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from prometheus_client import CollectorRegistry, values
from prometheus_client import multiprocess as untyped_multiprocess
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from queuekit.connect import connect, default_url
from queuekit.errors import UsageError
from queuekit.metrics.exposition import DEFAULT_HOST, BuildInfoCollector, MetricsEndpoint
from queuekit.metrics.jobs import JobMetrics, NullMetrics
from queuekit.metrics.store import StoreCollector

log = structlog.get_logger(__name__)

# prometheus_client's multiprocess module has no type hints; mypy strict sees it as Any.
_multiprocess: Any = untyped_multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SCRAPE_TIMEOUT_S = 5.0  # a store reply slower than this fails the scrape's store figures


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str]:
    """A fresh, empty folder set as PROMETHEUS_MULTIPROC_DIR for the block (rule 1).

    Worker processes spawned inside the block inherit it. On exit the folder
    is removed and the variable restored to what it was.
    """
    previous = os.environ.get(MULTIPROC_ENV)
    path = tempfile.mkdtemp(prefix="queuekit-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def multiprocess_active() -> bool:
    """Whether this process's prometheus_client writes its values to files (rule 2)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def worker_metrics() -> JobMetrics:
    """The JobMetrics of a worker process: shared through the folder when its supervisor
    serves metrics (PROMETHEUS_MULTIPROC_DIR is set), else NullMetrics.

    Its counts reach the folder when it flushes (jobs.py rule 2): the worker
    calls `flush()` at each heartbeat and before it exits. An atexit flush
    covers a plain interpreter exit; a multiprocessing child skips atexit.
    """
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return NullMetrics()
    if not multiprocess_active():
        raise UsageError(
            f"{MULTIPROC_ENV}={path} is set, but prometheus_client was imported in this "
            "process before it was, so its metrics would stay in this process: start worker "
            "processes with the spawn method after the variable is set"
        )
    metrics = JobMetrics()
    atexit.register(metrics.flush)
    return metrics


def scrape_client(url: str | None = None) -> Any:
    """A sync client of `url` for scrapes: one connection attempt, and at most
    SCRAPE_TIMEOUT_S per reply (unless the URL says otherwise), so a store that is
    down turns into queuekit_store_up 0 within Prometheus's scrape timeout."""
    url = url or default_url()
    if url.startswith("memory:"):
        return connect(url)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("timeout", f"{SCRAPE_TIMEOUT_S:g}")
    query.setdefault("retry_for", "0")
    return connect(urlunsplit(parts._replace(query=urlencode(query))))


class SupervisorCollector(Collector):
    """The supervisor's own figures: worker restarts by reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # From zero, so the first restart shows in rate() and increase().
        self._restarts: dict[str, int] = {"crash": 0, "recycle": 0}

    def worker_restarted(self, reason: str) -> None:
        with self._lock:
            self._restarts[reason] = self._restarts.get(reason, 0) + 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        restarts = CounterMetricFamily(
            "queuekit_supervisor_worker_restarts",
            "Worker processes the supervisor started again, by reason (crash, recycle...).",
            labels=("reason",),
        )
        with self._lock:
            counts = sorted(self._restarts.items())
        for reason, count in counts:
            restarts.add_metric((reason,), float(count))
        yield restarts


class SupervisorMetrics:
    """A running supervisor endpoint: `.port`, `.url`, the supervisor's hooks, `close()`."""

    def __init__(
        self, endpoint: MetricsEndpoint, supervisor: SupervisorCollector, path: str, client: Any
    ) -> None:
        self.endpoint = endpoint
        self.registry = endpoint.registry
        self.path = path
        self._supervisor = supervisor
        self._client = client

    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def url(self) -> str:
        return self.endpoint.url

    def worker_restarted(self, reason: str = "crash") -> None:
        """Count one restart of a worker process, by a short fixed reason."""
        self._supervisor.worker_restarted(reason)

    def worker_exited(self, pid: int) -> None:
        """Forget the live gauges of the exited process `pid` (rule 3)."""
        _multiprocess.mark_process_dead(pid, self.path)

    def close(self) -> None:
        """Stop serving, then close the store client."""
        self.endpoint.close()
        close = getattr(self._client, "close", None)
        if close is not None:
            close()


def serve_supervisor_metrics(
    host: str = DEFAULT_HOST,
    port: int = 0,
    client_factory: Callable[[], Any] | None = None,
    *,
    queues: Iterable[str] | None = None,
    path: str | None = None,
) -> SupervisorMetrics:
    """Serve the supervisor's /metrics on host:port (port 0: any free port).

    `client_factory` makes the sync store client the StoreCollector reads
    with (None: no store figures); `queues` limits them to those queues (None:
    every queue in qk:queues); `path` is the multiprocess folder (default:
    PROMETHEUS_MULTIPROC_DIR, which must be set: see `multiprocess_dir`).
    """
    path = path or os.environ.get(MULTIPROC_ENV)
    if not path or not os.path.isdir(path):
        raise UsageError(
            f"the supervisor's metrics read worker processes' files from {MULTIPROC_ENV}, "
            f"which is {path!r}, not a folder: serve them inside multiprocess_dir()"
        )
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=path)
    client = client_factory() if client_factory is not None else None
    if client is not None:
        registry.register(StoreCollector(client, queues))
    supervisor = SupervisorCollector()
    registry.register(supervisor)
    registry.register(BuildInfoCollector())
    try:
        endpoint = MetricsEndpoint(registry, host, port)
    except BaseException:
        if client is not None and hasattr(client, "close"):
            client.close()
        raise
    log.info("metrics_serving", url=endpoint.url)
    return SupervisorMetrics(endpoint, supervisor, path, client)
