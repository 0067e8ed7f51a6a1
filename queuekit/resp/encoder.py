"""Engine replies to RESP2 or RESP3 bytes, and commands to RESP arrays.

The reply vocabulary is the engine's (see `queuekit.engine.replies`). RESP2
has no doubles, maps or sets, so those degrade exactly as Redis 7.0 degrades
them: a double becomes a bulk string in "%.17g" form ("inf" and "-inf"
spelled out), a map a flat array, a set an array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Reply, Status

CRLF = b"\r\n"


def format_double(value: float) -> bytes:
    """Redis 7.0's addReplyDouble text: "%.17g", with inf spelled out."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    return b"%.17g" % value


def encode_reply(reply: Reply, resp: int = 2) -> bytes:
    """One reply as RESP bytes."""
    out: list[bytes] = []
    _encode(reply, resp, out)
    return b"".join(out)


def _encode(reply: Reply, resp: int, out: list[bytes]) -> None:  # noqa: C901 - one branch per type
    kind = type(reply)
    if kind is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))
    elif kind is int:
        out.append(b":%d\r\n" % reply)
    elif kind is Status:
        out.append(b"+%s\r\n" % reply)
    elif reply is None:
        out.append(b"_\r\n" if resp == 3 else b"$-1\r\n")
    elif kind is list or kind is tuple:
        out.append(b"*%d\r\n" % len(reply))
        for item in reply:
            _encode(item, resp, out)
    elif kind is float:
        text = format_double(reply)
        if resp == 3:
            out.append(b",%s\r\n" % text)
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(text), text))
    elif kind is dict:
        if resp == 3:
            out.append(b"%%%d\r\n" % len(reply))
        else:
            out.append(b"*%d\r\n" % (2 * len(reply)))
        for key, value in reply.items():
            _encode(key, resp, out)
            _encode(value, resp, out)
    elif kind is set or kind is frozenset:
        out.append((b"~%d\r\n" if resp == 3 else b"*%d\r\n") % len(reply))
        for item in reply:
            _encode(item, resp, out)
    elif reply is NULL_ARRAY:
        out.append(b"_\r\n" if resp == 3 else b"*-1\r\n")
    elif isinstance(reply, CommandError):
        out.append(b"-%s\r\n" % reply.message.encode())
    elif kind is bool:
        out.append((b"#t\r\n" if reply else b"#f\r\n") if resp == 3 else b":%d\r\n" % reply)
    else:
        raise TypeError(f"cannot encode a reply of type {kind.__name__}: {reply!r}")


def encode_command(argv: Sequence[bytes]) -> bytes:
    """A command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(argv)]
    for arg in argv:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)
