"""queuekit: a job queue and worker framework on its own Redis-exact store."""

from __future__ import annotations

from queuekit.client.memory import AsyncMemoryClient, MemoryClient, MemoryStore
from queuekit.connect import connect, connect_async
from queuekit.engine.clock import FakeClock, SystemClock
from queuekit.engine.engine import Engine
from queuekit.errors import (
    BusyError,
    ExecAbortError,
    NoAuthError,
    OutOfMemoryError,
    QueuekitError,
    ResponseError,
    UsageError,
    WatchError,
    WrongTypeError,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncMemoryClient",
    "BusyError",
    "Engine",
    "ExecAbortError",
    "FakeClock",
    "MemoryClient",
    "MemoryStore",
    "NoAuthError",
    "OutOfMemoryError",
    # Errors
    "QueuekitError",
    "ResponseError",
    # Time
    "SystemClock",
    "UsageError",
    "WatchError",
    "WrongTypeError",
    # Stores and clients
    "connect",
    "connect_async",
]
