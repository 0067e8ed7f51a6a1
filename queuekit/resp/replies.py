"""Parsing server replies, RESP2 and RESP3, sans IO: the client's half.

    parser = ReplyParser()
    parser.feed(data)
    while (reply := parser.next_reply()) is not NEED_DATA:
        ...

Values come out in the engine's reply vocabulary, so a reply read off the
wire looks exactly like the same reply from the in-process engine:

    +OK -> Status        -ERR... -> CommandError (returned, not raised)
    :1 -> int            $n -> bytes, $-1 -> None       *n -> list, *-1 -> NULL_ARRAY
    _ -> None            ,1.5 -> float    #t -> bool    (big -> int
    %n -> dict           ~n -> set (a list if members are unhashable)
    =n -> bytes (the "txt:" format prefix dropped)      >n -> Push (a list)
    |n attributes are read and dropped, as redis-py does.

With hiredis (the `fast` extra), a read that starts on a reply boundary is
parsed by hiredis.Reader (in half the time, with the check), but only where
that is exact: hiredis's replies are taken when encoding them back (RESP3)
gives the read byte for byte. The values that encode to given bytes are the
ones this parser reads from them, so that leaves out everything hiredis
reads otherwise (a status as bytes, a set as a list, a nil array as None,
big numbers, errors, pushes, a bulk not followed by CRLF, a partial
reply...): such a read, and every read while this parser holds part of a
reply, is parsed here. The simple strings that lead a read (a MULTI's +OK
and +QUEUEDs) are read here, and hiredis reads the rest; a rest holding a
type byte that hiredis reads otherwise skips hiredis at once (a first cut,
not a rule of exactness: a payload may hold such a byte).

Malformed replies raise ProtocolError: the connection cannot be trusted
after one. That covers a length or count that is not a decimal integer (or
is below -1), a bulk not followed by CRLF, a verbatim string without its
"xxx:" format, a boolean other than t or f, a bad double, an unknown type
byte, and a map key that cannot be made hashable.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Push, Status
from queuekit.resp.accelerator import AVAILABLE as HIREDIS
from queuekit.resp.encoder import encode_replies
from queuekit.resp.errors import ProtocolError

if HIREDIS:
    from hiredis import HiredisError, Reader


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


_ARRAY, _PUSH, _MAP, _SET, _ATTRIBUTES = b"*", b">", b"%", b"~", b"|"


class ReplyParser:
    """Turns a stream of reply bytes into reply values.

    Containers are parsed incrementally: the elements already complete stay
    on a stack when the buffer runs out, so a reply arriving in many reads is
    parsed once, never re-scanned from its start.
    """

    __slots__ = ("_buf", "_buffered", "_chunks", "_hiredis", "_need", "_parsed", "_pos", "_stack")

    def __init__(self, *, accelerate: bool = HIREDIS) -> None:
        """`accelerate`: try hiredis on whole reads (module docstring); needs hiredis."""
        if accelerate and not HIREDIS:
            raise ValueError("accelerate=True needs hiredis (pip install queuekit[fast])")
        # hiredis's Reader, kept while it holds no part of a reply (making one costs
        # as much as parsing a short reply); None: make one; False: never.
        self._hiredis: Any = None if accelerate else False
        self._parsed: deque[Any] = deque()  # replies hiredis read, to hand out first
        self._buf = b""
        self._pos = 0
        # Open containers: [kind, elements still expected, elements so far].
        self._stack: list[list[Any]] = []
        # Reads not yet joined into _buf, and how many unparsed bytes the
        # next step needs at least (a large bulk string is joined once).
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._need = 0

    def feed(self, data: bytes) -> None:
        # hiredis only on a reply boundary: nothing of a reply buffered or opened here.
        boundary = not self._chunks and not self._stack and self._pos == len(self._buf)
        if self._hiredis is not False and boundary and self._accelerated(data):
            return
        self._chunks.append(data)
        self._buffered += len(data)

    def _accelerated(self, data: bytes) -> bool:
        """Whether hiredis read `data`, a read that starts on a reply boundary, exactly
        (module docstring); its replies are then queued.

        The simple strings that lead a read (a MULTI's +OK and +QUEUEDs, which
        hiredis would read as bytes) are read here first, line by line as
        `next_reply` reads them, and hiredis reads the rest.
        """
        statuses, start = [], 0
        while data.startswith(b"+", start):
            end = data.find(b"\r\n", start)
            if end < 0:
                return False
            statuses.append(Status(data[start + 1 : end]))
            start = end + 2
        rest = data[start:] if start else data
        if len(rest.translate(None, _HIREDIS_READS_OTHERWISE)) != len(rest):
            return False
        reader = self._hiredis or Reader(notEnoughData=_NO_REPLY)
        try:
            reader.feed(rest)
            replies = list(iter(reader.gets, _NO_REPLY))
            exact = encode_replies(replies, 3) == rest
        except (HiredisError, TypeError):  # TypeError: a type this parser never gives
            exact = False
        self._hiredis = reader if exact else None  # else it may hold part of a reply
        if exact:
            self._parsed.extend(statuses)
            self._parsed.extend(replies)
        return exact

    def next_reply(self) -> Any:
        """The next whole reply, or NEED_DATA."""
        if self._parsed:  # read before anything still buffered
            return self._parsed.popleft()
        if self._chunks:
            unparsed = len(self._buf) - self._pos
            if unparsed + self._buffered < self._need:
                return NEED_DATA
            self._buf = b"".join([self._buf[self._pos :], *self._chunks])
            self._pos = 0
            self._chunks.clear()
            self._buffered = 0
        self._need = 0
        stack = self._stack
        while True:
            value = self._scalar_or_open()
            if value is NEED_DATA:
                return NEED_DATA
            if value is _OPENED:
                continue
            while stack:
                frame = stack[-1]
                frame[2].append(value)
                frame[1] -= 1
                if frame[1]:
                    break
                stack.pop()
                value = _close(frame)
                if value is _OPENED:  # attributes done: the annotated reply follows
                    break
            else:
                if value is not _OPENED:
                    return value

    def _scalar_or_open(self) -> Any:
        """Read one scalar, or open a container (returns _OPENED), or NEED_DATA."""
        buf, pos = self._buf, self._pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return NEED_DATA
        tag, line, after = buf[pos], buf[pos + 1 : end], end + 2
        # Fast paths for the commonest replies, a whole bulk string and an integer
        # in plain digits: two calls fewer per value. Anything else (a sign, a
        # partial or malformed bulk, a number too long for int()) takes the general
        # path below, which reads it or names what is wrong.
        if line.isdigit() and len(line) < _SHORT_DIGITS:
            if tag == 0x24:  # '$'
                stop = after + int(line)
                if buf.startswith(b"\r\n", stop):
                    self._pos = stop + 2
                    return buf[after:stop]
            elif tag == 0x3A:  # ':'
                self._pos = after
                return int(line)
        if tag in b"$=!":  # bulk, verbatim, blob error: a length, then the data
            return self._blob(tag, _size(line), pos, after)
        if tag in b"*>%~|":
            self._pos = after
            return self._open(bytes((tag,)), _size(line))
        scalar = _SCALARS.get(tag)
        if scalar is None:
            raise ProtocolError(f"Protocol error: unknown reply type byte {chr(tag)!r}")
        self._pos = after
        return scalar(line)

    def _blob(self, tag: int, size: int, pos: int, after: int) -> Any:
        if size < 0:
            self._pos = after
            return None
        buf = self._buf
        end = after + size
        if end + 2 > len(buf):
            self._need = end + 2 - pos
            return NEED_DATA
        if not buf.startswith(b"\r\n", end):
            raise ProtocolError(f"Protocol error: a {size}-byte bulk not followed by CRLF")
        data = buf[after:end]
        self._pos = end + 2
        if tag == 0x24:  # '$'
            return data
        if tag == 0x3D:  # '=': drop the "txt:" format
            if data[3:4] != b":":
                raise ProtocolError(f"Protocol error: verbatim string without format: {data[:8]!r}")
            return data[4:]
        return CommandError(data.decode("utf-8", "replace"))

    def _open(self, kind: bytes, size: int) -> Any:
        if size < 0:  # -1: _size allows no other negative
            return NULL_ARRAY if kind == _ARRAY else None
        expected = 2 * size if kind in (_MAP, _ATTRIBUTES) else size
        frame = [kind, expected, []]
        if expected == 0:
            return _close(frame)
        self._stack.append(frame)
        return _OPENED


_OPENED: Final = object()
# hiredis returns this, not False, when it has no whole reply: False is a reply (#f).
_NO_REPLY: Final = object()
# The type bytes of replies that hiredis reads otherwise, and '-' (errors; RESP2's nils).
_HIREDIS_READS_OTHERWISE = b"+-(,#%~=>|!;"
_SHORT_DIGITS = 19  # digits the fast paths take: every int64 count or length


def _close(frame: list[Any]) -> Any:
    kind, _, items = frame
    if kind == _ARRAY:
        return items
    if kind == _PUSH:
        return Push(items)
    if kind == _SET:
        try:
            return set(items)
        except TypeError:
            return items
    if kind == _MAP:
        try:
            return {_hashable(k): v for k, v in zip(items[0::2], items[1::2], strict=True)}
        except (TypeError, RecursionError):
            raise ProtocolError("Protocol error: a map key that cannot be hashed") from None
    return _OPENED  # attributes: dropped


def _int(line: bytes) -> int:
    """A decimal integer, as Redis writes one: digits with an optional '-'."""
    if line.isdigit() or (line[:1] == b"-" and line[1:].isdigit()):
        try:
            return int(line)
        except ValueError:  # more digits than int() converts by default
            pass
    raise ProtocolError(f"Protocol error: bad integer {line[:64]!r} in a reply")


def _size(line: bytes) -> int:
    """A length or count: -1 (null) or more."""
    size = _int(line)
    if size < -1:
        raise ProtocolError(f"Protocol error: bad length {size} in a reply")
    return size


# What Redis's "%.17g" writes, and the spellings of infinity and NaN.
_DOUBLE = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)")


def _float(line: bytes) -> float:
    if _DOUBLE.fullmatch(line) is None:
        raise ProtocolError(f"Protocol error: bad double {line[:64]!r} in a reply")
    return float(line)


def _boolean(line: bytes) -> bool:
    if line == b"t":
        return True
    if line == b"f":
        return False
    raise ProtocolError(f"Protocol error: bad boolean {line[:64]!r} in a reply")


_SCALARS: dict[int, Callable[[bytes], Any]] = {
    0x3A: _int,  # ":"
    0x28: _int,  # "(" big number
    0x2B: Status,  # '+'
    0x2D: lambda line: CommandError(line.decode("utf-8", "replace")),  # '-'
    0x5F: lambda line: None,  # '_'
    0x2C: _float,  # ","
    0x23: _boolean,  # '#'
}


def _hashable(key: Any) -> Any:
    """A map key as a dict key: arrays become tuples, sets frozensets, maps pairs."""
    if isinstance(key, list):
        return tuple(map(_hashable, key))
    if isinstance(key, set):
        return frozenset(key)
    if isinstance(key, dict):
        return frozenset((k, _hashable(v)) for k, v in key.items())
    return key
