"""queuekit: a job queue and worker framework on its own Redis-exact store.

The public names are imported on first use (PEP 562): a `redis://` worker
process or `import queuekit.worker` never loads the engine and the
in-process store it does not touch, about a third of a worker process's
start-up. Type checkers read the imports under TYPE_CHECKING.
"""

from __future__ import annotations

import importlib
import typing

# Bound now, not lazily: `connect` is also the name of a submodule, which
# becomes this package's attribute when first imported, shadowing a lazy name.
from queuekit.connect import connect, connect_async

__version__ = "0.1.0"

# The public API: each name and the module that defines it, one group per concern.
_PUBLIC = {
    # Stores and clients
    "AsyncMemoryClient": "queuekit.client.memory",
    "MemoryClient": "queuekit.client.memory",
    "MemoryStore": "queuekit.client.memory",
    "connect": "queuekit.connect",
    "connect_async": "queuekit.connect",
    # Engine and time
    "Engine": "queuekit.engine.engine",
    "FakeClock": "queuekit.engine.clock",
    "SystemClock": "queuekit.engine.clock",
    # Jobs
    "AsyncFailedJobs": "queuekit.jobs",
    "AsyncJob": "queuekit.jobs",
    "AsyncJobClient": "queuekit.jobs",
    "FailedJobs": "queuekit.jobs",
    "Job": "queuekit.jobs",
    "JobClient": "queuekit.jobs",
    "JobSettings": "queuekit.jobs",
    "JobStatus": "queuekit.jobs",
    "Retry": "queuekit.jobs",
    "Task": "queuekit.jobs",
    "TaskOptions": "queuekit.jobs",
    "TaskSet": "queuekit.jobs",
    "Worker": "queuekit.jobs",
    "call": "queuekit.jobs",
    "enqueue": "queuekit.jobs",
    # Errors
    "BusyError": "queuekit.errors",
    "ExecAbortError": "queuekit.errors",
    "InvalidOptionError": "queuekit.errors",
    "JobFailedError": "queuekit.errors",
    "MalformedPayloadError": "queuekit.errors",
    "NoAuthError": "queuekit.errors",
    "OutOfMemoryError": "queuekit.errors",
    "PayloadTooLargeError": "queuekit.errors",
    "PersistenceError": "queuekit.errors",
    "QueuekitError": "queuekit.errors",
    "ResponseError": "queuekit.errors",
    "ResultTimeoutError": "queuekit.errors",
    "UsageError": "queuekit.errors",
    "WatchError": "queuekit.errors",
    "WrongTypeError": "queuekit.errors",
}
__all__ = list(_PUBLIC)

if typing.TYPE_CHECKING:
    from queuekit.client.memory import AsyncMemoryClient, MemoryClient, MemoryStore
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


def __getattr__(name: str) -> typing.Any:
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'queuekit' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
