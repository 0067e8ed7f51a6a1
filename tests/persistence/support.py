"""Helpers for the persistence tests: an engine that records its AOF, and replay.

`Recorder` is the engine tests' `Client` with a `Propagation` attached: every
write it runs lands in `recorder.log` as RESP frames. `replay(log, at_ms, dir)`
writes them to a file and loads it into a fresh engine whose fake clock reads
`at_ms`; `dataset(engine)` is what must survive: every live key's value and
deadline, in a form that compares with `==`.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.engine.zset import ZSet
from queuekit.persistence.loader import LoadReport, load
from queuekit.persistence.propagate import Propagation
from tests.engine.support import START_MS, Client


class Recorder(Client):
    """A fake-clock engine whose writes are propagated into `log`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(errors_as_values=True, **options)
        self.propagation = Propagation(self.engine)
        self.propagation.attach()
        self._log = bytearray()

    @property
    def log(self) -> bytes:
        self._log += self.propagation.take()
        return bytes(self._log)


def normalized(value: Any) -> Any:
    """A stored value in a comparable form (a counter int and its text are equal)."""
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, deque):
        return ("list", list(value))
    if isinstance(value, ZSet):
        return ("zset", sorted((member, score) for score, member in value))
    if isinstance(value, set):
        return ("set", sorted(value))
    if isinstance(value, dict):
        return ("hash", sorted(value.items()))
    return value


def dataset(engine: Engine) -> dict[bytes, tuple[Any, int | None]]:
    """Every live key (deadline not passed) -> (value, deadline in ms or None)."""
    db = engine.db
    now = db.clock.now_ms()
    return {
        key: (normalized(value), db.expires.get(key))
        for key, value in db.data.items()
        if db.expires.get(key, now) >= now
    }


def replay(log: bytes, at_ms: int, directory: Path) -> tuple[Engine, LoadReport]:
    """Load `log` into a fresh engine whose clock reads `at_ms`."""
    path = directory / "replay.aof"
    path.write_bytes(log)
    engine = Engine(FakeClock(at_ms))
    report = load(path, engine)
    return engine, report


def commands_of(log: bytes) -> list[list[bytes]]:
    """The commands in a log, parsed back, for tests that check what was logged."""
    from queuekit.resp.requests import RequestParser

    parser = RequestParser()
    parser.feed(log)
    return [list(command) for command in parser.commands()]


__all__ = ["START_MS", "Recorder", "commands_of", "dataset", "normalized", "replay"]
