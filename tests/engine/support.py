"""Helpers shared by the engine's unit tests: a terse client and the memory check.

`Client` runs commands through `Engine.execute` directly, on a `FakeClock`, so
tests call `client("SET", "k", 1)` and advance time instead of sleeping. A test
file whose client needs more (a counting clock, parked sessions, numbered
sessions) subclasses it; the `client` fixture lives in conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from queuekit.engine.clock import FakeClock
from queuekit.engine.db import Database
from queuekit.engine.engine import Engine
from queuekit.engine.errors import CommandError
from queuekit.engine.memory import key_cost, value_cost
from queuekit.engine.replies import Reply
from queuekit.engine.session import Session

Arg = str | bytes | int | float
START_MS = 1_700_000_000_000  # where the fake clock starts: a Unix time, in ms (Nov 2023)


def argv(args: Iterable[Arg]) -> list[bytes]:
    """A command's arguments as the engine takes them: bytes as they are, the rest as text."""
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


class Client:
    """An engine with a fake clock and one session, for terse tests.

    With `errors_as_values`, a command error is returned instead of raised, so a
    test can compare it with `==`. `engine_options` go to `Engine`.
    """

    def __init__(
        self,
        clock: FakeClock | None = None,
        *,
        errors_as_values: bool = False,
        **engine_options: Any,
    ) -> None:
        self.clock = FakeClock(START_MS) if clock is None else clock
        self.engine = Engine(self.clock, **engine_options)
        self.session = Session()
        self.errors_as_values = errors_as_values

    @property
    def db(self) -> Database:
        return self.engine.db

    def __call__(self, *args: Arg, session: Session | None = None) -> Reply:
        try:
            return self.engine.execute(session or self.session, argv(args))
        except CommandError as error:
            if self.errors_as_values:
                return error
            raise


def accounted(db: Database) -> int:
    """What used_memory must equal: every key and value priced from scratch."""
    return sum(key_cost(key) + value_cost(value) for key, value in db.data.items())


def assert_memory_exact(db: Database) -> None:
    expected = accounted(db)
    assert db.used_memory == expected
