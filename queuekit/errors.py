"""queuekit's exceptions, one tree for the whole package.

    QueuekitError
    ├── ResponseError              the store answered with an error reply
    │   ├── WrongTypeError         WRONGTYPE
    │   ├── ExecAbortError         EXECABORT: a queued command was refused
    │   ├── OutOfMemoryError       OOM: over maxmemory under noeviction
    │   ├── NoAuthError            NOAUTH / WRONGPASS
    │   └── BusyError              the store cannot take the command now
    ├── WatchError                 EXEC aborted: a WATCHed key changed
    ├── StoreConnectionError       the store cannot be reached, or the connection broke
    ├── UsageError                 the API was used in a way it cannot honour
    ├── InvalidOptionError         a task option, enqueue option or queue name is bad (ValueError)
    ├── PayloadTooLargeError       an encoded job is over the payload limit (ValueError)
    ├── MalformedPayloadError      bytes in the store are not a job envelope or result
    ├── JobFailedError             job.result(): the job raised
    ├── ResultTimeoutError         job.result(): no result in time (TimeoutError)
    └── PersistenceError           a persistence file cannot be written or read
        ├── CorruptFileError       a persistence file is damaged (names file and byte offset)
        └── CorruptManifestError   the AOF manifest is damaged (names file and line)

A reply's error text is kept whole in `message`, so nothing Redis said is lost.
"""

from __future__ import annotations


class QueuekitError(Exception):
    """Raised when queuekit cannot do what was asked; the base of every error here."""


class ResponseError(QueuekitError):
    """Raised when the store answers a command with an error reply."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def prefix(self) -> str:
        """The error code, Redis's first word: ERR, WRONGTYPE, OOM..."""
        return self.message.split(" ", 1)[0]


class WrongTypeError(ResponseError):
    """Raised when a command meets a key holding another type (WRONGTYPE)."""


class ExecAbortError(ResponseError):
    """Raised when EXEC refuses to run because a queued command was rejected."""


class OutOfMemoryError(ResponseError):
    """Raised when a write is refused because the store is over maxmemory."""


class NoAuthError(ResponseError):
    """Raised when the store wants a password first, or a different one."""


class BusyError(ResponseError):
    """Raised when the store is busy (loading, or running a script)."""


class WatchError(QueuekitError):
    """Raised when EXEC ran nothing because a WATCHed key changed after WATCH."""


class StoreConnectionError(QueuekitError, ConnectionError):
    """Raised when the store cannot be reached, or the connection broke mid-command.

    A command whose connection broke after it was sent may or may not have
    run: the store got it, or not. The client never retries such a command
    on its own; it retries only sends that provably did not leave.
    """


class UsageError(QueuekitError):
    """Raised when the API is called in a way it cannot honour; the message says how."""


class InvalidOptionError(QueuekitError, ValueError):
    """Raised when a task option, an enqueue option or a queue name is malformed or out of range."""


class PayloadTooLargeError(QueuekitError, ValueError):
    """Raised when an encoded job is larger than the payload limit; nothing is enqueued."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"job payload is {size} bytes, over the limit of {limit} bytes "
            "(JobSettings.max_payload_bytes, QUEUEKIT_MAX_PAYLOAD_BYTES)"
        )
        self.size = size
        self.limit = limit


class MalformedPayloadError(QueuekitError):
    """Raised when bytes read from the store are not a job envelope or a job result."""


class JobFailedError(QueuekitError):
    """Raised by `job.result()` when the job ran and raised; `error` is what the worker recorded."""

    def __init__(self, job_id: str, error: str) -> None:
        super().__init__(f"job {job_id} failed: {error}")
        self.job_id = job_id
        self.error = error


class ResultTimeoutError(QueuekitError, TimeoutError):
    """Raised when `job.result(timeout)` sees no result within `timeout` seconds."""


class PersistenceError(QueuekitError):
    """Raised when an append-only file or snapshot cannot be written or read."""


class CorruptFileError(PersistenceError):
    """Raised when a persistence file is damaged before its end; names the file and byte offset."""

    def __init__(
        self,
        path: str,
        offset: int,
        reason: str,
        remedy: str | None = None,
        *,
        kind: str = "append only file",
    ) -> None:
        if remedy is None:
            remedy = (
                f"queuekit check-aof --fix {path} truncates the file to the last valid "
                "command, losing everything after it"
            )
        super().__init__(
            f"Bad file format reading the {kind} {path} at byte offset {offset}: "
            f"{reason} ({remedy})"
        )
        self.path = path
        self.offset = offset
        self.reason = reason


class CorruptManifestError(PersistenceError):
    """Raised when the AOF manifest cannot be parsed; names the file, the line and why."""

    def __init__(self, path: str, line: int, reason: str, text: str = "") -> None:
        shown = f": {text!r}" if text else ""
        super().__init__(
            f"Bad AOF manifest {path} at line {line}{shown}: {reason} (the manifest lists "
            "the files that make the dataset; restore it from a backup or correct that line)"
        )
        self.path = path
        self.line = line
        self.reason = reason


_BY_PREFIX: dict[str, type[ResponseError]] = {
    "WRONGTYPE": WrongTypeError,
    "EXECABORT": ExecAbortError,
    "OOM": OutOfMemoryError,
    "NOAUTH": NoAuthError,
    "WRONGPASS": NoAuthError,
    "BUSY": BusyError,
    "LOADING": BusyError,
}


def response_error(message: str) -> ResponseError:
    """The exception for an error reply, chosen by its prefix as redis-py does."""
    return _BY_PREFIX.get(message.split(" ", 1)[0], ResponseError)(message)
