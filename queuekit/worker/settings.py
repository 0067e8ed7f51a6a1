"""WorkerSettings: everything `queuekit worker` and a worker process need, frozen.

Defaults here; QUEUEKIT_* variables through `from_env()`; CLI flags override
(cli.py). Nothing reads the environment at import time.

    QUEUEKIT_URL                 store URL (default: the local server, redis://127.0.0.1:6390/0)
    QUEUEKIT_QUEUES              comma-separated queues, highest priority first
    QUEUEKIT_CONCURRENCY         jobs in flight per process
    QUEUEKIT_PROCESSES           worker processes
    QUEUEKIT_BURST               yes/no: exit once the queues are drained
    QUEUEKIT_SHUTDOWN_TIMEOUT    seconds in-flight jobs get to finish after SIGTERM
    QUEUEKIT_MAX_JOBS            jobs after which a process is replaced (empty: never)
    QUEUEKIT_AT_LEAST_ONCE       comma-separated queues fetched at-least-once, "*" for all
    QUEUEKIT_HEARTBEAT_INTERVAL  seconds between heartbeats
    QUEUEKIT_HEARTBEAT_TTL       seconds a heartbeat lives: a dead worker is found within this
    QUEUEKIT_METRICS_PORT        serve Prometheus metrics on this port (empty: no metrics)
    QUEUEKIT_METRICS_HOST        address of the metrics endpoint
    QUEUEKIT_LOG_FORMAT          auto, json or console
    QUEUEKIT_EMBEDDED            yes/no: the supervisor serves the store itself

Rules: a WorkerSettings is valid once built (`__post_init__` checks every
field and names the offending value and its limit, InvalidOptionError), so
the supervisor and the worker processes never meet a bad value. Because
some checks span fields (heartbeat interval < TTL, at-least-once queues
among the queues), `from_env(**overrides)` builds once from the environment
and the CLI's flags together.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from queuekit.errors import InvalidOptionError
from queuekit.jobs.keys import validate_queue

DEFAULT_CONCURRENCY = 10  # jobs in flight per process, as arq and SAQ
DEFAULT_SHUTDOWN_TIMEOUT_S = 25.0  # inside Kubernetes' 30 s grace period
DEFAULT_HEARTBEAT_INTERVAL_S = 5.0
DEFAULT_HEARTBEAT_TTL_S = 15.0  # a dead worker's jobs are found within this

MAX_CONCURRENCY = 10_000  # jobs in flight per process; past this a process only thrashes
MAX_PROCESSES = 256  # worker processes per supervisor
LOG_FORMATS = ("auto", "json", "console")
ALL_QUEUES = "*"  # at_least_once: every queue the worker serves


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker runs; see the module docstring."""

    modules: tuple[str, ...] = ()  # "pkg.mod" or "pkg.mod:attribute"
    url: str | None = None  # None: QUEUEKIT_URL, else the local server (queuekit.connect)
    queues: tuple[str, ...] = ("default",)  # strict priority order
    concurrency: int = DEFAULT_CONCURRENCY
    processes: int = 1
    burst: bool = False  # exit once the queues are drained
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    max_jobs: int | None = None  # a process exits (and is replaced) after this many jobs
    at_least_once: tuple[str, ...] = ()  # queues fetched with LMOVE + ack; "*" for all
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    heartbeat_ttl_s: float = DEFAULT_HEARTBEAT_TTL_S
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_format: str = "auto"  # auto (JSON unless a terminal), json, console
    embedded: bool = False  # the supervisor serves the store itself on the default address

    def __post_init__(self) -> None:
        _check_int("concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        _check_int("processes", self.processes, 1, MAX_PROCESSES)
        if self.max_jobs is not None:
            _check_int("max_jobs", self.max_jobs, 1, None)
        if self.metrics_port is not None:
            _check_int("metrics_port", self.metrics_port, 0, 65535)
        for name in ("shutdown_timeout_s", "heartbeat_interval_s", "heartbeat_ttl_s"):
            _check_seconds(name, getattr(self, name))
        if self.heartbeat_interval_s >= self.heartbeat_ttl_s:
            raise InvalidOptionError(
                f"heartbeat_interval_s {self.heartbeat_interval_s} must be less than "
                f"heartbeat_ttl_s {self.heartbeat_ttl_s}, or a live worker looks dead "
                "between two heartbeats"
            )
        if self.log_format not in LOG_FORMATS:
            raise InvalidOptionError(
                f"log_format {self.log_format!r} is not one of {', '.join(LOG_FORMATS)}"
            )
        self._check_queues()
        self._check_embedded()

    def _check_queues(self) -> None:
        if not isinstance(self.queues, tuple) or not self.queues:
            raise InvalidOptionError(f"queues {self.queues!r} must be a non-empty tuple of names")
        for queue in self.queues:
            validate_queue(queue)
        if len(set(self.queues)) != len(self.queues):
            raise InvalidOptionError(f"queues {','.join(self.queues)} names a queue twice")
        for queue in self.at_least_once:
            if queue != ALL_QUEUES and queue not in self.queues:
                raise InvalidOptionError(
                    f"at-least-once queue {queue!r} is not one of the worker's queues "
                    f"({','.join(self.queues)}); use '{ALL_QUEUES}' for all of them"
                )
        if not isinstance(self.modules, tuple) or not all(self.modules):
            raise InvalidOptionError(f"modules {self.modules!r} must be a tuple of module names")

    def _check_embedded(self) -> None:
        # Worker processes reach an embedded store over TCP: a memory:// store is
        # private to one process, and the server listens on host:port.
        if self.embedded and self.url is not None and not self.url.startswith("redis://"):
            raise InvalidOptionError(
                f"embedded store URL {self.url!r} must be redis://host:port: the supervisor "
                "serves the store on that address"
            )

    def reliable(self, queue: str) -> bool:
        """Whether `queue` is fetched at-least-once."""
        return ALL_QUEUES in self.at_least_once or queue in self.at_least_once

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> WorkerSettings:
        """Settings from QUEUEKIT_* variables, then `overrides` (CLI flags) on top."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            variable = env_variable(spec.name)
            raw = env.get(variable) if variable else None
            if variable and raw is not None:
                values[spec.name] = parse_setting(spec.name, raw, variable)
        values.update(overrides)
        return cls(**values)


def env_variable(field_name: str) -> str | None:
    """The QUEUEKIT_* twin of a settings field (durations drop their `_s`)."""
    if field_name == "modules":
        return None  # modules are arguments, not settings a deployment shares
    return "QUEUEKIT_" + field_name.removesuffix("_s").upper()


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOptionError(f"{name} {value!r} must be an int")
    if value < low or (high is not None and value > high):
        limit = f"at least {low}" if high is None else f"between {low} and {high:,}"
        raise InvalidOptionError(f"{name} {value} must be {limit}")


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidOptionError(f"{name} {value!r} must be a number of seconds")
    if not (value > 0 and math.isfinite(value)):
        raise InvalidOptionError(f"{name} {value!r} must be more than 0 seconds, and finite")


# -- text to values (environment variables and flags) -------------------------------


def parse_setting(name: str, raw: str, source: str) -> Any:
    """The value of field `name` from text given as `source` (a variable or a flag)."""
    try:
        return _PARSERS.get(name, _text)(raw.strip())
    except ValueError:
        raise InvalidOptionError(
            f"{source} {raw!r} is not {_EXPECTED.get(name, 'valid')}"
        ) from None


_BOOLEANS = {"yes": True, "no": False, "true": True, "false": False, "1": True, "0": False}


def parse_bool(raw: str) -> bool:
    """yes/no, true/false, 1/0 (any case)."""
    try:
        return _BOOLEANS[raw.strip().lower()]
    except KeyError:
        raise ValueError(f"{raw!r} is not yes or no") from None


def parse_names(raw: str) -> tuple[str, ...]:
    """A comma-separated list, spaces around names ignored: "high, default"."""
    return tuple(name.strip() for name in raw.split(","))


def _optional_int(raw: str) -> int | None:
    return int(raw) if raw else None


def _text(raw: str) -> str:
    return raw


def _optional_text(raw: str) -> str | None:
    return raw or None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "url": _optional_text,
    "queues": parse_names,
    "concurrency": int,
    "processes": int,
    "burst": parse_bool,
    "shutdown_timeout_s": float,
    "max_jobs": _optional_int,
    "at_least_once": lambda raw: parse_names(raw) if raw else (),
    "heartbeat_interval_s": float,
    "heartbeat_ttl_s": float,
    "metrics_port": _optional_int,
    "embedded": parse_bool,
}
_EXPECTED = {
    "concurrency": "an integer",
    "processes": "an integer",
    "burst": "yes or no",
    "shutdown_timeout_s": "a number of seconds",
    "max_jobs": "an integer (or empty for no limit)",
    "heartbeat_interval_s": "a number of seconds",
    "heartbeat_ttl_s": "a number of seconds",
    "metrics_port": "a port number (or empty for no metrics)",
    "embedded": "yes or no",
}
