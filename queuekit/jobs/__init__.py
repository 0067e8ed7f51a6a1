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

The layer sees the store only through a client's `execute` and `pipeline`,
and uses only commands Redis 7.0 has, so it runs the same on memory://, the
queuekit server and any Redis 7.
"""

from __future__ import annotations

from queuekit.jobs.envelope import Envelope
from queuekit.jobs.job import AsyncJob, Job, JobStatus, store_result, store_result_async
from queuekit.jobs.options import RateLimit, TaskOptions
from queuekit.jobs.prepare import Call, call
from queuekit.jobs.producer import AsyncJobClient, JobClient, enqueue
from queuekit.jobs.settings import JobSettings
from queuekit.jobs.tasks import Task, TaskCall, TaskSet

__all__ = [
    "AsyncJob",
    "AsyncJobClient",
    "Call",
    "Envelope",
    "Job",
    "JobClient",
    "JobSettings",
    "JobStatus",
    "RateLimit",
    "Task",
    "TaskCall",
    "TaskOptions",
    "TaskSet",
    "call",
    "enqueue",
    "store_result",
    "store_result_async",
]
