"""The engine's only source of time.

Every TTL, deadline and blocking timeout is an absolute time in integer
milliseconds read from one injected clock, so tests advance a `FakeClock`
instead of sleeping. `SystemClock` reads wall time (TTLs are absolute Unix
times, as EXPIREAT and EXPIRETIME show them).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...

    def now_us(self) -> int:
        """Microseconds since the Unix epoch (TIME needs them)."""
        ...


class SystemClock:
    """Wall-clock time, as Redis uses it for expiry."""

    __slots__ = ()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def now_us(self) -> int:
        return time.time_ns() // 1_000


class FakeClock:
    """A clock that moves only when a test says so."""

    __slots__ = ("_us",)

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._us = start_ms * 1000

    def now_ms(self) -> int:
        return self._us // 1000

    def now_us(self) -> int:
        return self._us

    def advance(self, seconds: float = 0.0, *, ms: int = 0) -> None:
        """Move time forward by `seconds` plus `ms` milliseconds."""
        self._us += round(seconds * 1_000_000) + ms * 1000
