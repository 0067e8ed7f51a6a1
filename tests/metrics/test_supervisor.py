"""The supervisor's endpoint: worker processes' metrics summed, store figures, its own figures."""

from __future__ import annotations

import multiprocessing
import os
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from queuekit.client.memory import MemoryClient, MemoryStore
from queuekit.errors import UsageError
from queuekit.jobs import JobClient, TaskSet
from queuekit.metrics import (
    NullMetrics,
    multiprocess_dir,
    scrape_client,
    serve_supervisor_metrics,
    worker_metrics,
)
from queuekit.metrics.supervisor import MULTIPROC_ENV
from tests.metrics.children import record_jobs
from tests.support.redis_server import free_port

JOIN_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 60.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def fetch(url: str) -> Samples:
    """Scrape `url` over HTTP and index its samples by name and labels."""
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def run_children(*args: tuple[int, bool] | tuple[int, bool, bool]) -> list[int]:
    """Spawn one child per argument tuple running record_jobs; their pids once all exited."""
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=record_jobs, args=a) for a in args]
    for child in children:
        child.start()
    for child in children:
        child.join(JOIN_TIMEOUT_S)
        assert child.exitcode == 0
    return [child.pid for child in children if child.pid is not None]


def test_one_endpoint_sums_the_metrics_of_every_worker_process() -> None:
    """Two spawned processes write to one folder; the supervisor's endpoint shows the sums."""
    memory = MemoryStore()
    tasks = TaskSet()
    JobClient(MemoryClient(memory), tasks=tasks).enqueue("app.ok", 1)
    with multiprocess_dir():
        run_children((3, True), (5, False))
        endpoint = serve_supervisor_metrics("127.0.0.1", 0, lambda: MemoryClient(memory))
        try:
            assert endpoint.port > 0
            samples = fetch(endpoint.url)
            ok = {"queue": "default", "task": "app.ok"}
            assert sample(samples, "queuekit_jobs_started_total", **ok) == 8
            done = sample(samples, "queuekit_jobs_completed_total", **ok, outcome="success")
            assert done == 8
            assert sample(samples, "queuekit_job_duration_seconds_count", **ok) == 8
            assert sample(samples, "queuekit_job_queue_wait_seconds_count", **ok) == 8
            died = {"queue": "default", "reason": "worker_died"}
            assert sample(samples, "queuekit_jobs_lost_total", **died) == 2
            assert sample(samples, "queuekit_worker_jobs_in_flight", queue="default") == 1
            assert sample(samples, "queuekit_queue_length", queue="default") == 1
            assert sample(samples, "queuekit_store_up") == 1
            assert any(name == "queuekit_build_info" for name, _ in samples)
        finally:
            endpoint.close()
        memory.close()


def test_an_exited_process_leaves_its_counts_but_not_its_live_gauges() -> None:
    """worker_exited(pid) drops the dead process's in-flight jobs; its counters stay summed."""
    with multiprocess_dir():
        (pid,) = run_children((2, True))
        endpoint = serve_supervisor_metrics("127.0.0.1", 0)
        try:
            assert sample(fetch(endpoint.url), "queuekit_worker_jobs_in_flight", queue="default")
            endpoint.worker_exited(pid)
            samples = fetch(endpoint.url)
            assert sample(samples, "queuekit_worker_jobs_in_flight", queue="default") is None
            ok = {"queue": "default", "task": "app.ok"}
            assert sample(samples, "queuekit_jobs_started_total", **ok) == 2
        finally:
            endpoint.close()


def test_a_busy_worker_flushes_by_itself_once_the_interval_passed() -> None:
    """A process that never calls flush() still shows its jobs once the interval passed."""
    with multiprocess_dir():
        run_children((4, False, False))
        endpoint = serve_supervisor_metrics("127.0.0.1", 0)
        try:
            samples = fetch(endpoint.url)
        finally:
            endpoint.close()
    ok = {"queue": "default", "task": "app.ok"}
    assert sample(samples, "queuekit_jobs_started_total", **ok) == 4
    assert sample(samples, "queuekit_jobs_completed_total", **ok, outcome="success") == 4


def test_the_supervisor_counts_worker_restarts_by_reason() -> None:
    """worker_restarted() shows as queuekit_supervisor_worker_restarts_total{reason}."""
    with multiprocess_dir():
        endpoint = serve_supervisor_metrics("127.0.0.1", 0)
        try:
            endpoint.worker_restarted("crash")
            endpoint.worker_restarted("crash")
            endpoint.worker_restarted("recycle")
            samples = fetch(endpoint.url)
        finally:
            endpoint.close()
    name = "queuekit_supervisor_worker_restarts_total"
    assert sample(samples, name, reason="crash") == 2
    assert sample(samples, name, reason="recycle") == 1


def test_an_unreachable_store_still_serves_a_scrape() -> None:
    """With the store down the endpoint answers 200 with queuekit_store_up 0."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    with multiprocess_dir():
        endpoint = serve_supervisor_metrics("127.0.0.1", 0, lambda: scrape_client(url))
        try:
            samples = fetch(endpoint.url)
        finally:
            endpoint.close()
    assert sample(samples, "queuekit_store_up") == 0


def test_scrape_client_bounds_its_waits() -> None:
    """scrape_client tries to connect once and bounds each reply, unless the URL says."""
    client = scrape_client("redis://127.0.0.1:6390/0")
    assert client.address.retry_for == 0
    assert client.address.reply_timeout == 5
    client.close()
    kept = scrape_client("redis://127.0.0.1:6390/0?timeout=2")
    assert kept.address.reply_timeout == 2
    kept.close()


def test_multiprocess_dir_is_fresh_and_removed_with_the_variable_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The folder is empty and set for the block, then gone, and the variable is as before."""
    monkeypatch.setenv(MULTIPROC_ENV, "/elsewhere")
    with multiprocess_dir() as path:
        assert os.environ[MULTIPROC_ENV] == path
        assert os.listdir(path) == []
    assert not Path(path).exists()
    assert os.environ[MULTIPROC_ENV] == "/elsewhere"
    monkeypatch.delenv(MULTIPROC_ENV)
    with multiprocess_dir():
        pass
    assert MULTIPROC_ENV not in os.environ


def test_the_endpoint_needs_the_multiprocess_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serving without PROMETHEUS_MULTIPROC_DIR set is a UsageError saying what to do."""
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with pytest.raises(UsageError, match="multiprocess_dir"):
        serve_supervisor_metrics("127.0.0.1", 0)


def test_worker_metrics_are_off_without_the_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker process whose supervisor serves no metrics records nothing."""
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    assert isinstance(worker_metrics(), NullMetrics)


def test_worker_metrics_refuse_a_process_that_imported_prometheus_too_early(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The variable set after prometheus_client chose in-process values is a UsageError."""
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with pytest.raises(UsageError, match="spawn"):
        worker_metrics()
