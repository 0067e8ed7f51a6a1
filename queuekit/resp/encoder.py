"""Engine replies to RESP2 or RESP3 bytes, and commands to RESP arrays.

The reply vocabulary is the engine's (see `queuekit.engine.replies`). RESP2
has no doubles, maps or sets, so those degrade exactly as Redis 7.0 degrades
them: a double becomes a bulk string in "%.17g" form ("inf" and "-inf"
spelled out), a map a flat array, a set an array.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Pairs, Push, Reply, Status, Verbatim

CRLF = b"\r\n"
_ONE_LINE = bytes.maketrans(b"\r\n", b"  ")


def format_double(value: float) -> bytes:
    """Redis 7.0's addReplyDouble text: "%.17g", with inf spelled out."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    return b"%.17g" % value


def encode_reply(reply: Reply, resp: int = 2) -> bytes:
    """One reply as RESP bytes."""
    # The replies that are one line (+OK, +PONG, a nil) skip the list and the join.
    kind = type(reply)
    if kind is Status:
        return b"+%s\r\n" % reply
    if reply is None:
        return b"_\r\n" if resp == 3 else b"$-1\r\n"
    out: list[bytes] = []
    _encode(reply, resp, out)
    return b"".join(out)


def encode_replies(replies: Iterable[Reply], resp: int = 2) -> bytes:
    """Replies, one after another."""
    out: list[bytes] = []
    for reply in replies:
        _encode(reply, resp, out)
    return b"".join(out)


def _encode(reply: Reply, resp: int, out: list[bytes]) -> None:
    encoder = _ENCODERS.get(type(reply))
    if encoder is not None:
        encoder(reply, resp, out)
    elif reply is NULL_ARRAY:
        out.append(b"_\r\n" if resp == 3 else b"*-1\r\n")
    elif isinstance(reply, CommandError):
        # As Redis's addReplyErrorFormat does: a CR or LF (from a quoted
        # argument) becomes a space, so the reply stays one line.
        out.append(b"-%s\r\n" % reply.message.encode().translate(_ONE_LINE))
    else:
        raise TypeError(f"cannot encode a reply of type {type(reply).__name__}: {reply!r}")


def _bulk(reply: bytes, resp: int, out: list[bytes]) -> None:
    out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))


def _integer(reply: int, resp: int, out: list[bytes]) -> None:
    out.append(b":%d\r\n" % reply)


def _status(reply: Status, resp: int, out: list[bytes]) -> None:
    out.append(b"+%s\r\n" % reply)


def _null(reply: None, resp: int, out: list[bytes]) -> None:
    out.append(b"_\r\n" if resp == 3 else b"$-1\r\n")


def _array(reply: list[Reply] | tuple[Reply, ...], resp: int, out: list[bytes]) -> None:
    out.append(b"*%d\r\n" % len(reply))
    for item in reply:
        _encode(item, resp, out)


def _push(reply: Push, resp: int, out: list[bytes]) -> None:
    out.append(b">%d\r\n" % len(reply) if resp == 3 else b"*%d\r\n" % len(reply))
    for item in reply:
        _encode(item, resp, out)


def _pairs(reply: Pairs, resp: int, out: list[bytes]) -> None:
    if resp == 3:
        _array(reply, resp, out)
        return
    out.append(b"*%d\r\n" % (2 * len(reply)))
    for first, second in reply:
        _encode(first, resp, out)
        _encode(second, resp, out)


def _double(reply: float, resp: int, out: list[bytes]) -> None:
    text = format_double(reply)
    if resp == 3:
        out.append(b",%s\r\n" % text)
    else:
        out.append(b"$%d\r\n%s\r\n" % (len(text), text))


def _map(reply: dict[Reply, Reply], resp: int, out: list[bytes]) -> None:
    out.append(b"%%%d\r\n" % len(reply) if resp == 3 else b"*%d\r\n" % (2 * len(reply)))
    for key, value in reply.items():
        _encode(key, resp, out)
        _encode(value, resp, out)


def _set(reply: set[Reply] | frozenset[Reply], resp: int, out: list[bytes]) -> None:
    out.append(b"~%d\r\n" % len(reply) if resp == 3 else b"*%d\r\n" % len(reply))
    for item in reply:
        _encode(item, resp, out)


def _boolean(reply: bool, resp: int, out: list[bytes]) -> None:
    if resp == 3:
        out.append(b"#t\r\n" if reply else b"#f\r\n")
    else:
        out.append(b":1\r\n" if reply else b":0\r\n")


def _verbatim(reply: Verbatim, resp: int, out: list[bytes]) -> None:
    if resp == 3:
        out.append(b"=%d\r\ntxt:%s\r\n" % (len(reply) + 4, reply))
    else:
        out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))


_ENCODERS: dict[type, Callable[[Any, int, list[bytes]], None]] = {
    bytes: _bulk,
    int: _integer,
    Status: _status,
    type(None): _null,
    list: _array,
    tuple: _array,
    Push: _push,
    Pairs: _pairs,
    float: _double,
    dict: _map,
    set: _set,
    frozenset: _set,
    bool: _boolean,
    Verbatim: _verbatim,
}


# The headers of short arrays and bulk strings, made once: indexing a list
# costs a fraction of formatting one (measured: 16 small commands encode in
# ~56% of the time). The server's reply loop uses them too.
_ARRAY_HEADERS = [b"*%d\r\n" % n for n in range(64)]
BULK_HEADERS = [b"$%d\r\n" % n for n in range(512)]
# Whole replies of the small integers commands answer most (0 and 1 above all).
INTEGER_REPLIES = [b":%d\r\n" % n for n in range(512)]


def encode_command(argv: Sequence[bytes]) -> bytes:
    """A command as a RESP array of bulk strings."""
    return encode_commands((argv,))


def encode_commands(commands: Iterable[Sequence[bytes]]) -> bytes:
    """Commands, one after another, each a RESP array of bulk strings."""
    parts: list[bytes] = []
    add = parts.append
    for argv in commands:
        count = len(argv)
        add(_ARRAY_HEADERS[count] if count < 64 else b"*%d\r\n" % count)
        for arg in argv:
            size = len(arg)
            if size < 512:
                add(BULK_HEADERS[size])
                add(arg)
                add(CRLF)
            else:
                add(b"$%d\r\n%s\r\n" % (size, arg))
    return b"".join(parts)
