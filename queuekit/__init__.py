"""queuekit: a job queue and worker framework on its own Redis-exact store."""

from __future__ import annotations

from queuekit.client.memory import AsyncMemoryClient, MemoryClient, MemoryStore
from queuekit.connect import connect, connect_async
from queuekit.engine.clock import FakeClock, SystemClock
from queuekit.engine.engine import Engine
from queuekit.errors import (
    BusyError,
    ExecAbortError,
    InvalidOptionError,
    JobFailedError,
    MalformedPayloadError,
    NoAuthError,
    OutOfMemoryError,
    PayloadTooLargeError,
    PersistenceError,
    QueuekitError,
    ResponseError,
    ResultTimeoutError,
    UsageError,
    WatchError,
    WrongTypeError,
)
from queuekit.jobs import (
    AsyncFailedJobs,
    AsyncJob,
    AsyncJobClient,
    FailedJobs,
    Job,
    JobClient,
    JobSettings,
    JobStatus,
    Retry,
    Task,
    TaskOptions,
    TaskSet,
    Worker,
    call,
    enqueue,
)

__version__ = "0.1.0"

# The public API, one group per concern (each group sorted, as ruff wants).
__all__ = [
    # Stores and clients
    "AsyncMemoryClient",
    "MemoryClient",
    "MemoryStore",
    "connect",
    "connect_async",
]
__all__ += [
    # Engine and time
    "Engine",
    "FakeClock",
    "SystemClock",
]
__all__ += [
    # Jobs
    "AsyncFailedJobs",
    "AsyncJob",
    "AsyncJobClient",
    "FailedJobs",
    "Job",
    "JobClient",
    "JobSettings",
    "JobStatus",
    "Retry",
    "Task",
    "TaskOptions",
    "TaskSet",
    "Worker",
    "call",
    "enqueue",
]
__all__ += [
    # Errors
    "BusyError",
    "ExecAbortError",
    "InvalidOptionError",
    "JobFailedError",
    "MalformedPayloadError",
    "NoAuthError",
    "OutOfMemoryError",
    "PayloadTooLargeError",
    "PersistenceError",
    "QueuekitError",
    "ResponseError",
    "ResultTimeoutError",
    "UsageError",
    "WatchError",
    "WrongTypeError",
]
