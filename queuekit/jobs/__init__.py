"""The job layer: tasks, the job envelope, enqueueing and job handles.

    keys.py       every key name; every key of a queue carries its hash tag
    envelope.py   the msgpack envelope and result (the one module importing msgpack)
    options.py    task options, validated
    tasks.py      TaskSet and the @tasks.task decorator
    prepare.py    an enqueue call checked, encoded and turned into commands (sans-IO)
    txn.py        WATCH/MULTI/EXEC plans, run on sync and async clients
    job.py        JobStatus, Job and AsyncJob handles, store_result
    producer.py   JobClient, AsyncJobClient, enqueue()
    settings.py   JobSettings (from_env)
    scheduler.py  due scheduled jobs moved onto their queues, exactly once
    failed.py     the failed registry: record, list, requeue, purge
    ratelimit.py  per-task rate limits: fixed windows counted on the store
    execution.py  one fetched job, sans-IO: checks, run, outcome writes; Retry
    worker.py     Worker: the burst worker, sync and async

The layer sees the store only through a client's `execute` and `pipeline`,
and uses only commands Redis 7.0 has, so it runs the same on memory://, the
queuekit server and any Redis 7.
"""

from __future__ import annotations

from queuekit.jobs.envelope import Envelope
from queuekit.jobs.execution import Outcome, Retry
from queuekit.jobs.failed import AsyncFailedJobs, FailedJob, FailedJobs
from queuekit.jobs.job import AsyncJob, Job, JobStatus, store_result, store_result_async
from queuekit.jobs.options import RateLimit, TaskOptions
from queuekit.jobs.prepare import Call, call
from queuekit.jobs.producer import AsyncJobClient, JobClient, enqueue
from queuekit.jobs.scheduler import move_due, move_due_async, next_due_ms, next_due_ms_async
from queuekit.jobs.settings import JobSettings
from queuekit.jobs.tasks import Task, TaskCall, TaskSet
from queuekit.jobs.worker import Summary, Worker

__all__ = [
    "AsyncFailedJobs",
    "AsyncJob",
    "AsyncJobClient",
    "Call",
    "Envelope",
    "FailedJob",
    "FailedJobs",
    "Job",
    "JobClient",
    "JobSettings",
    "JobStatus",
    "Outcome",
    "RateLimit",
    "Retry",
    "Summary",
    "Task",
    "TaskCall",
    "TaskOptions",
    "TaskSet",
    "Worker",
    "call",
    "enqueue",
    "move_due",
    "move_due_async",
    "next_due_ms",
    "next_due_ms_async",
    "store_result",
    "store_result_async",
]
