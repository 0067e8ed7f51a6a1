"""The engine's reply vocabulary, shared by every encoder and client.

A handler returns plain Python values; their types say how they go on the
wire, in RESP2 and in RESP3 alike:

    bytes           bulk string            None        null (RESP2 `$-1`)
    Status          simple string (+OK)    NULL_ARRAY  null array (RESP2 `*-1`)
    Verbatim        verbatim text (RESP3 `=` "txt:"; RESP2 a bulk string)
    int             integer                list        array
    float           double (RESP3 `,`; RESP2 a bulk string, "%.17g" as Redis 7.0)
    dict            map (RESP3 `%`; RESP2 a flat array of key, value, ...)
    set / frozenset set (RESP3 `~`; RESP2 an array)
    CommandError    an error reply nested in an array (EXEC results)
    Push            an out-of-band message (RESP3 `>`; RESP2 an array)
    Pairs           [a, b] pairs (RESP3 an array of 2-element arrays; RESP2 one flat array)

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


class Verbatim(bytes):
    """A verbatim text reply (INFO): RESP3 `=` with the "txt:" format, RESP2 a bulk string."""

    __slots__ = ()


class Push(list[Any]):
    """An out-of-band message: pub/sub deliveries and subscription confirmations."""


class Pairs(list[Any]):
    """A list of [a, b] pairs, as HRANDFIELD WITHVALUES and ZRANGE WITHSCORES answer.

    RESP3 nests each pair in its own 2-element array; RESP2 flattens them.
    """


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

# Blocked.multi_reply when it is the same as the timeout reply.
_AS_ON_TIMEOUT: Final = object()


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
    # Inside MULTI, where it may not block, the command answers at once:
    # `timeout_reply`, unless this says otherwise (Redis 7.0's BLMOVE answers
    # a null there, but a null array on timeout).
    multi_reply: Reply = field(default=_AS_ON_TIMEOUT)

    def reply_in_multi(self) -> Reply:
        """What EXEC answers for this command, which may not block there."""
        return self.timeout_reply if self.multi_reply is _AS_ON_TIMEOUT else self.multi_reply
