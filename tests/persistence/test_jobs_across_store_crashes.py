"""What the job layer keeps when its `queuekit server` is killed with SIGKILL, per persistence mode.

docs/semantics.md ("The store restarts") states these outcomes; each test here
enqueues through the job layer, kills the server mid-life, restarts it on the
same data directory and looks at what a worker then finds.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import queuekit
from queuekit.jobs import JobClient, JobStatus, TaskSet, Worker
from tests.persistence.support import ServerProcess, running

tasks = TaskSet()
ran: list[int] = []


@tasks.task
def record(n: int) -> None:
    ran.append(n)


def enqueue(client: JobClient, numbers: range) -> list[str]:
    jobs = [client.enqueue(record, n) for n in numbers]
    return [job.id for job in jobs if job is not None]


@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_with_the_aof_queued_and_scheduled_jobs_survive_a_store_sigkill(
    start: type[ServerProcess], data_dir: Path, fsync: str
) -> None:
    """Every job whose enqueue returned is still queued (or scheduled) after the crash,
    and a worker then runs each exactly once."""
    server = running(start, data_dir, fsync)
    with queuekit.connect(f"redis://127.0.0.1:{server.port}/0") as store:
        client = JobClient(store, tasks=tasks)
        queued = enqueue(client, range(50))
        later = client.enqueue(record, 999, _delay=3600)
        assert later is not None
    server.stop(signal.SIGKILL)

    server = running(start, data_dir, fsync)
    with queuekit.connect(f"redis://127.0.0.1:{server.port}/0") as store:
        client = JobClient(store, tasks=tasks)
        assert client.job(later.id).status() is JobStatus.SCHEDULED
        ran.clear()
        summary = Worker(store, tasks).run_burst()
        assert (summary.succeeded, summary.failed) == (50, 0)
        assert sorted(ran) == list(range(50))
        assert all(client.job(job_id).status() is JobStatus.SUCCEEDED for job_id in queued)
    assert server.stop() == 0


def test_snapshot_only_keeps_the_jobs_enqueued_before_the_last_save(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """Snapshots only: jobs enqueued before the last completed save survive; those after it
    are gone, and nothing counts them (the store that would count forgot them too)."""
    server = running(start, data_dir, "everysec", "--appendonly", "no", "--save", "")
    with queuekit.connect(f"redis://127.0.0.1:{server.port}/0") as store:
        client = JobClient(store, tasks=tasks)
        saved = enqueue(client, range(20))
        assert store.execute("SAVE") in (b"OK", "OK")
        lost = enqueue(client, range(20, 30))
    server.stop(signal.SIGKILL)

    server = running(start, data_dir, "everysec", "--appendonly", "no", "--save", "")
    with queuekit.connect(f"redis://127.0.0.1:{server.port}/0") as store:
        client = JobClient(store, tasks=tasks)
        assert all(client.job(job_id).status() is JobStatus.UNKNOWN for job_id in lost)
        ran.clear()
        assert Worker(store, tasks).run_burst().succeeded == 20
        assert sorted(ran) == list(range(20))
        assert all(client.job(job_id).status() is JobStatus.SUCCEEDED for job_id in saved)
    assert server.stop() == 0
