"""Real worker processes on a queuekit server and on redis-server: an exact peak over four
processes, and what a SIGKILL mid-job does in each delivery mode."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from typing import Any

import pytest

from queuekit.connect import connect
from queuekit.exitcodes import ExitCode
from queuekit.jobs import JobClient, JobStatus
from queuekit.jobs import keys as K
from queuekit.jobs.keys import queue_keys
from queuekit.worker.settings import WorkerSettings
from tests.support.queuekit_server import running_server
from tests.worker import sample_tasks

Q = queue_keys("default")
WAIT_S = 120.0
NETWORK = pytest.mark.parametrize("network_url", ["queuekit", "redis", "cluster"], indirect=True)
SPAWN = multiprocessing.get_context("spawn")


def start(settings: WorkerSettings) -> BaseProcess:
    process = SPAWN.Process(target=sample_tasks.serve, args=(settings,), daemon=True)
    process.start()
    return process


@contextmanager
def store_client(url: str) -> Iterator[Any]:
    client = connect(url)
    try:
        yield client
    finally:
        client.close()


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def stopped(process: BaseProcess) -> int | None:
    process.join(WAIT_S)
    if process.is_alive():  # only if the test failed already: never leave it behind
        process.kill()
        process.join(WAIT_S)
    return process.exitcode


@NETWORK
def test_four_processes_of_concurrency_eight_peak_at_exactly_32(network_url: str) -> None:
    """32 jobs that wait for each other on 4 x 8 slots, plus 8 more: the peak is 32."""
    with store_client(network_url) as client:
        jobs = JobClient(client, tasks=sample_tasks.tasks)
        for n in range(40):
            jobs.enqueue(sample_tasks.meet, 32 if n < 32 else 0)
        settings = WorkerSettings(url=network_url, burst=True, concurrency=8)
        workers = [start(settings) for _ in range(4)]
        codes = [stopped(worker) for worker in workers]
        assert codes == [ExitCode.OK] * 4
        assert int(float(client.execute("ZSCORE", Q.peak, K.PEAK_MEMBER))) == 32
        assert int(float(client.execute("ZSCORE", K.PEAK, K.PEAK_MEMBER))) == 32
        assert int(client.execute("HGET", Q.stats, "succeeded")) == 40
        assert int(client.execute("HGET", Q.stats, "in_progress")) == 0


def _killed_mid_job(url: str, reliable: bool) -> tuple[Any, str]:
    """Start a hanging job on worker A, SIGKILL A, then run worker B until the job settles."""
    client = connect(url)
    job = JobClient(client, tasks=sample_tasks.tasks).enqueue(sample_tasks.hang_once)
    assert job is not None
    settings = WorkerSettings(
        url=url,
        concurrency=2,
        heartbeat_interval_s=0.2,
        heartbeat_ttl_s=1.0,
        at_least_once=("*",) if reliable else (),
    )
    first = start(settings)
    wait_for(lambda: client.execute("GET", sample_tasks.RUNS) == b"1", "the job to start")
    os.kill(first.pid or 0, signal.SIGKILL)
    assert stopped(first) == -signal.SIGKILL
    second = start(settings)
    settled = (JobStatus.SUCCEEDED,) if reliable else (JobStatus.LOST,)
    wait_for(lambda: job.status() in settled, f"the job to become {settled[0].value}")
    os.kill(second.pid or 0, signal.SIGTERM)
    assert stopped(second) == ExitCode.OK
    return client, job.id


@NETWORK
def test_at_least_once_a_job_killed_mid_run_completes_on_another_worker(
    network_url: str,
) -> None:
    """SIGKILL mid-job: the job runs again elsewhere, with exactly one redelivery recorded."""
    client, job_id = _killed_mid_job(network_url, reliable=True)
    try:
        assert client.execute("GET", sample_tasks.RUNS) == b"2"
        assert int(client.execute("HGET", Q.stats, "redelivered")) == 1
        assert client.execute("HGET", Q.job(job_id), "attempt") == b"1"
        assert client.execute("HGET", Q.stats, "lost") is None
        assert int(client.execute("HGET", Q.stats, "in_progress")) == 0
    finally:
        client.close()


@NETWORK
def test_at_most_once_a_job_killed_mid_run_is_counted_lost(network_url: str) -> None:
    """SIGKILL mid-job, default mode: the job is not run again and is counted lost by id."""
    client, job_id = _killed_mid_job(network_url, reliable=False)
    try:
        assert client.execute("GET", sample_tasks.RUNS) == b"1"
        assert int(client.execute("HGET", Q.stats, "lost")) == 1
        assert client.execute("ZSCORE", Q.lost, job_id) is not None
        assert int(client.execute("HGET", Q.stats, "in_progress")) == 0
        assert int(client.execute("GET", K.IN_PROGRESS)) == 0
    finally:
        client.close()


def test_a_worker_reconnects_and_registers_again_after_the_store_restarts() -> None:
    """The store goes away and comes back empty on the same port: the worker carries on."""
    with running_server() as first:
        port = first.port
        url = f"redis://127.0.0.1:{port}/0"
        settings = WorkerSettings(url=url, heartbeat_interval_s=0.2, heartbeat_ttl_s=2.0)
        worker = start(settings)
        try:
            with store_client(url) as client:
                job = JobClient(client, tasks=sample_tasks.tasks).enqueue(sample_tasks.meet, 0)
                assert job is not None
                wait_for(lambda: job.status() is JobStatus.SUCCEEDED, "a job before the restart")
        except BaseException:
            worker.kill()
            raise
    with running_server(port=port), store_client(url) as client:
        try:
            assert client.execute("SMEMBERS", K.WORKERS) in ([], set())  # it came back empty
            job = JobClient(client, tasks=sample_tasks.tasks).enqueue(sample_tasks.meet, 0)
            assert job is not None
            wait_for(lambda: job.status() is JobStatus.SUCCEEDED, "a job after the restart")
            wait_for(lambda: bool(client.execute("SMEMBERS", K.WORKERS)), "the worker again")
            assert int(client.execute("HGET", Q.stats, "in_progress")) == 0
        finally:
            os.kill(worker.pid or 0, signal.SIGTERM)
            assert stopped(worker) == ExitCode.OK
