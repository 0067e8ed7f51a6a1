"""The engine's reply vocabulary, shared by every encoder and client.

A handler returns plain Python values; their types say how they go on the
wire, in RESP2 and in RESP3 alike:

    bytes           bulk string            None        null (RESP2 `$-1`)
    Status          simple string (+OK)    NULL_ARRAY  null array (RESP2 `*-1`)
    int             integer                list        array
    float           double (RESP3 `,`; RESP2 a bulk string, "%.17g" as Redis 7.0)
    dict            map (RESP3 `%`; RESP2 a flat array of key, value, ...)
    set / frozenset set (RESP3 `~`; RESP2 an array)
    CommandError    an error reply nested in an array (EXEC results)

`Blocked` is not a reply: it tells the caller that a blocking command found
nothing and must wait on `keys` until `deadline_ms`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final


class Status(bytes):
    """A simple-string reply such as +OK or +PONG."""

    __slots__ = ()


class _NullArray:
    """The RESP2 null array, `*-1`: what BLPOP answers on timeout."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"

    def __bool__(self) -> bool:
        return False


OK: Final = Status(b"OK")
PONG: Final = Status(b"PONG")
QUEUED: Final = Status(b"QUEUED")
NULL_ARRAY: Final = _NullArray()

Reply = Any
"""Anything in the table above; kept as Any because replies nest freely."""

Wake = Callable[[Reply], None]
"""Called with the reply once a blocked command has been served."""


@dataclass(slots=True, eq=False)
class Blocked:
    """A blocking command that found all its keys empty.

    The caller parks it with `Engine.block(blocked, wake)`; the engine calls
    `wake(reply)` when a write makes one of `keys` ready, or the caller calls
    `Engine.unblock(blocked)` at `deadline_ms` (None: wait forever) and answers
    `timeout_reply` itself.
    """

    argv: Sequence[bytes]
    keys: Sequence[bytes]
    deadline_ms: int | None
    timeout_reply: Reply
    wake: Wake | None = field(default=None)
