"""A deliberately naive RESP reader, independent of queuekit's own codec.

The conformance tests compare raw replies from a real redis-server with the
engine's replies encoded by queuekit.resp; parsing both with this small,
obviously-correct reader keeps the comparison from trusting the code under
test. Every reply becomes a tagged tuple, so types compare as well as values:

    ("+", b"OK")  ("-", "ERR ...")  (":", 5)  ("$", b"x") / ("$", None)
    ("*", [...]) / ("*", None)  ("_", None)  (",", b"1.5")  ("%", [(k, v)...])
    ("~", [...])  ("#", True)  (">", [...])  ("=", b"txt:...")
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO

Tagged = tuple[str, Any]


_SCALARS = {
    "+": lambda body: body,
    "-": lambda body: body.decode(),
    ":": int,
    "_": lambda body: None,
    ",": lambda body: body,
    "#": lambda body: body == b"t",
}


def read_reply(stream: BinaryIO) -> Tagged:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise EOFError(f"connection closed mid-reply: {line!r}")
    tag, body = chr(line[0]), line[1:-2]
    if tag in _SCALARS:
        return (tag, _SCALARS[tag](body))
    size = int(body)
    if tag in "$=":
        return (tag, None if size < 0 else stream.read(size + 2)[:-2])
    if tag in "*~>":
        return (tag, None if size < 0 else [read_reply(stream) for _ in range(size)])
    if tag == "%":
        return ("%", [(read_reply(stream), read_reply(stream)) for _ in range(size)])
    raise ValueError(f"unknown RESP type byte {tag!r} in {line!r}")


def parse(data: bytes) -> Tagged:
    """One whole reply from bytes; trailing bytes are an error."""
    stream = io.BytesIO(data)
    reply = read_reply(stream)
    rest = stream.read()
    if rest:
        raise ValueError(f"trailing bytes after the reply: {rest!r}")
    return reply


def encode_command(argv: list[bytes]) -> bytes:
    return b"".join([b"*%d\r\n" % len(argv), *(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)])
