"""Task options: one frozen dataclass, validated when it is made.

Durations are seconds (float), priorities are levels of keys.py (0 = high;
the names "high", "default", "low" are accepted), a rate limit is text such
as "100/m" parsed into a count and a window in seconds. Every check raises
InvalidOptionError naming the option, the value and what is allowed, so a
bad option fails where the task is declared or the job is enqueued, never in
a worker later.

Dedup policy (`dedup`), saying when a job's dedup key is released:
    "finish"  when the job finishes, whatever its outcome (the default)
    "never"   never: the key stays in the queue's dedup set
    a number  after that many seconds (a window: SET NX PX); `_dedup_ttl` also
              gives a window for one enqueue
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from queuekit.errors import InvalidOptionError
from queuekit.jobs.keys import DEFAULT_PRIORITY, PRIORITY_LEVELS, PRIORITY_NAMES, validate_queue

RATE_WINDOWS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*")
DEDUP_POLICIES = ("finish", "never")
MAX_RETRIES = 1000
DEFAULT_FINISHED_TTL_S = 24 * 3600.0  # a finished job's hash answers status() this long


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` starts per `window_s` seconds, across all workers."""

    count: int
    window_s: int


def parse_rate_limit(text: str) -> RateLimit:
    """RateLimit from "100/m", "5/s", "1000/h", "10/30s" (10 per 30 seconds)."""
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidOptionError(
            f"rate_limit {text!r} is not COUNT/WINDOW: write e.g. '100/m', '5/s', '10/30s' "
            "(windows s, m, h, d)"
        )
    count, multiple, unit = int(match[1]), int(match[2] or 1), match[3]
    if count < 1 or multiple < 1:
        raise InvalidOptionError(f"rate_limit {text!r} needs a count and a window of at least 1")
    return RateLimit(count, multiple * RATE_WINDOWS_S[unit])


def priority_level(value: object) -> int:
    """A priority level 0..PRIORITY_LEVELS-1 from an int or a level name."""
    if isinstance(value, str) and value in PRIORITY_NAMES:
        return PRIORITY_NAMES[value]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < PRIORITY_LEVELS:
        return value
    raise InvalidOptionError(
        f"priority {value!r} is not a level: use 0..{PRIORITY_LEVELS - 1} (0 is highest) "
        f"or one of {', '.join(PRIORITY_NAMES)}"
    )


def seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """`value` as a positive, finite number of seconds (or zero if allowed)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidOptionError(f"{name} {value!r} is not a number of seconds")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise InvalidOptionError(f"{name} {value!r} must be finite and {least} seconds")
    return float(value)


def retries(value: object) -> int:
    """`value` as a retry count 0..MAX_RETRIES."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise InvalidOptionError(f"retries {value!r} must be an int from 0 to {MAX_RETRIES}")
    return value


def dedup_policy(value: object) -> str | float:
    """ "finish", "never", or a window in seconds."""
    if isinstance(value, str):
        if value in DEDUP_POLICIES:
            return value
        raise InvalidOptionError(
            f"dedup {value!r} is not a policy: use 'finish', 'never' or a window in seconds"
        )
    return seconds("dedup window", value)


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """A task's defaults; each enqueue may override some (`_queue`, `_retries`...)."""

    queue: str = "default"
    priority: int | str = DEFAULT_PRIORITY
    retries: int = 0
    backoff: float = 1.0  # seconds before the first retry; doubles each time, with jitter
    timeout: float | None = None  # seconds a run may take; None: no limit
    rate_limit: str | RateLimit | None = None
    dedup: str | float = "finish"
    result_ttl: float | None = None  # seconds a result is kept; None: not stored
    finished_ttl: float = DEFAULT_FINISHED_TTL_S  # seconds a succeeded job's hash is kept

    def __post_init__(self) -> None:
        _set(self, "queue", validate_queue(self.queue))
        _set(self, "priority", priority_level(self.priority))
        _set(self, "retries", retries(self.retries))
        _set(self, "backoff", seconds("backoff", self.backoff, allow_zero=True))
        if self.timeout is not None:
            _set(self, "timeout", seconds("timeout", self.timeout))
        if isinstance(self.rate_limit, str):
            _set(self, "rate_limit", parse_rate_limit(self.rate_limit))
        elif self.rate_limit is not None and not isinstance(self.rate_limit, RateLimit):
            raise InvalidOptionError(f"rate_limit {self.rate_limit!r} is not text like '100/m'")
        _set(self, "dedup", dedup_policy(self.dedup))
        if self.result_ttl is not None:
            _set(self, "result_ttl", seconds("result_ttl", self.result_ttl))
        _set(self, "finished_ttl", seconds("finished_ttl", self.finished_ttl))

    @property
    def level(self) -> int:
        """The priority as a level (validated, so always an int)."""
        assert isinstance(self.priority, int)
        return self.priority

    @property
    def limit(self) -> RateLimit | None:
        """The rate limit, parsed."""
        assert not isinstance(self.rate_limit, str)
        return self.rate_limit


def _set(options: TaskOptions, name: str, value: Any) -> None:
    object.__setattr__(options, name, value)
