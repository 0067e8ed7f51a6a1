"""Parsing client requests: RESP multibulk arrays and inline commands, sans IO.

    parser = RequestParser()
    parser.feed(data)                 # whatever the socket gave
    for argv in parser.commands():    # every complete command, in order
        ...

Rules, as Redis's networking.c keeps them:
1. A request starting with '*' is a multibulk array of '$' bulk strings;
   anything else is an inline command, split on spaces with Redis's quoting.
2. A header line ("*3", "$5") is found by its '\\r' and must fit in
   `max_inline_length` bytes; so must an inline command.
3. Broken input raises RemoteProtocolError with Redis's wording, after the
   commands that preceded it have been returned: the server runs those,
   answers the error and closes the connection. The parser is unusable after.
4. A multibulk count <= 0 is an empty command and is skipped; so is an
   empty inline line.

Speed: complete commands are cut from one `bytes` buffer with `find` and
slices, never byte by byte. When a command is incomplete the parser
remembers how many bytes it needs at least and does not look again before
they have arrived, so a 100 MB argument arriving in 64 KB reads is not
re-scanned on every read.
"""

from __future__ import annotations

from queuekit.resp import errors
from queuekit.resp.errors import RemoteProtocolError
from queuekit.resp.limits import Limits

# Before AUTH, Redis accepts only small frames (networking.c).
UNAUTHENTICATED_MAX_MULTIBULK = 10
UNAUTHENTICATED_MAX_BULK = 16384


class RequestParser:
    """Turns a stream of request bytes into commands (lists of bytes)."""

    __slots__ = ("_buf", "_buffered", "_chunks", "_error", "_need", "authenticated", "limits")

    def __init__(self, limits: Limits | None = None, *, authenticated: bool = True) -> None:
        self.limits = limits or Limits()
        # False until AUTH succeeds on a server with a password: frames are capped.
        self.authenticated = authenticated
        self._buf = b""
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._need = 0
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed into commands."""
        return len(self._buf) + self._buffered

    def feed(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)
            self._buffered += len(data)

    def commands(self) -> list[list[bytes]]:
        """Every complete command buffered so far; see rule 3 for errors."""
        if self._error is not None:
            raise self._error
        if self._chunks:
            if len(self._buf) + self._buffered < self._need:
                return []
            self._buf = b"".join([self._buf, *self._chunks])
            self._chunks.clear()
            self._buffered = 0
        commands: list[list[bytes]] = []
        try:
            self._parse(commands)
        except RemoteProtocolError as error:
            self._error = error
            self._buf = b""
            if not commands:
                raise
        return commands

    def _parse(self, out: list[list[bytes]]) -> None:
        buf = self._buf
        size = len(buf)
        pos = self._parse_fast(buf, out)
        while pos < size:
            is_multibulk = buf[pos] == 0x2A  # '*'
            end = (self._multibulk if is_multibulk else self._inline)(buf, pos, out)
            if end < 0:
                break
            pos = end
        self._buf = buf[pos:] if pos < size else b""

    def _parse_fast(self, buf: bytes, out: list[list[bytes]]) -> int:
        """The common case at C speed: split on CRLF and walk the lines.

        Accepts only frames the exact parser below would accept the same way
        (canonical counts and lengths within the limits, each bulk exactly
        its declared length); at the first anything else it returns the
        offset of that command and the exact parser takes over from there.
        """
        limits = self.limits
        if (
            not self.authenticated  # the exact path applies the small pre-AUTH limits
            or limits.max_bulk_length < _FAST_MAX_BULK
            or limits.max_multibulk_length < _FAST_MAX_COUNT
        ):
            return 0
        lines = buf.split(b"\r\n")
        last = len(lines) - 1  # lines[last] is what follows the final CRLF
        count_of = _COUNT_OF
        header_of = _HEADER_OF.__getitem__
        i = 0
        while i < last:
            count = count_of.get(lines[i])
            if count is None:
                break
            stop = i + 1 + 2 * count
            if stop > last:
                break
            args = lines[i + 2 : stop : 2]
            # Each header must be exactly "$" + the canonical length of its bulk:
            # compared in one go, at C speed, against a table of such headers.
            try:
                if lines[i + 1 : stop : 2] != list(map(header_of, map(len, args))):
                    break
            except IndexError:  # a bulk longer than the table: the exact path decides
                break
            out.append(args)
            i = stop
        if i == last:
            return len(buf) - len(lines[last])
        return sum(map(len, lines[:i])) + 2 * i

    def _multibulk(self, buf: bytes, start: int, out: list[list[bytes]]) -> int:
        """Parse one array at `start`; its end, or -1 if incomplete (with _need set)."""
        limits = self.limits
        size = len(buf)
        cr = buf.find(b"\r", start, start + limits.max_inline_length + 1)
        if cr < 0 or cr + 1 >= size:
            if size - start > limits.max_inline_length:
                raise RemoteProtocolError(errors.TOO_BIG_MBULK_COUNT)
            return self._incomplete(size - start + 1)
        count = _integer(buf, start + 1, cr)
        if count is None or count > limits.max_multibulk_length:
            raise RemoteProtocolError(errors.INVALID_MULTIBULK_LENGTH)
        if count > UNAUTHENTICATED_MAX_MULTIBULK and not self.authenticated:
            raise RemoteProtocolError("Protocol error: unauthenticated multibulk length")
        pos = cr + 2
        if count <= 0:
            return pos
        max_bulk = limits.max_bulk_length if self.authenticated else UNAUTHENTICATED_MAX_BULK
        args: list[bytes] = []
        append = args.append
        for _ in range(count):
            cr = buf.find(b"\r", pos, pos + limits.max_inline_length + 1)
            if cr < 0 or cr + 1 >= size:
                if size - pos > limits.max_inline_length:
                    raise RemoteProtocolError(errors.TOO_BIG_BULK_COUNT)
                return self._incomplete(size - start + 1)
            if buf[pos] != 0x24:  # '$'
                raise RemoteProtocolError(errors.expected_dollar(buf[pos]))
            length = _integer(buf, pos + 1, cr)
            if length is None or length < 0 or length > max_bulk:
                if length is not None and not self.authenticated and length >= 0:
                    raise RemoteProtocolError("Protocol error: unauthenticated bulk length")
                raise RemoteProtocolError(errors.INVALID_BULK_LENGTH)
            data_start = cr + 2
            pos = data_start + length + 2
            if pos > size:
                return self._incomplete(pos - start)
            append(buf[data_start : data_start + length])
        self._need = 0
        out.append(args)
        return pos

    def _inline(self, buf: bytes, start: int, out: list[list[bytes]]) -> int:
        newline = buf.find(b"\n", start, start + self.limits.max_inline_length + 1)
        if newline < 0:
            if len(buf) - start > self.limits.max_inline_length:
                raise RemoteProtocolError(errors.TOO_BIG_INLINE)
            return self._incomplete(len(buf) - start + 1)
        line_end = newline - 1 if newline > start and buf[newline - 1] == 0x0D else newline
        args = split_args(buf[start:line_end])
        if args is None:
            raise RemoteProtocolError(errors.UNBALANCED_QUOTES)
        if args:
            out.append(args)
        self._need = 0
        return newline + 1

    def _incomplete(self, need_from_start: int) -> int:
        """Remember the least size the unparsed rest must reach before a retry."""
        self._need = need_from_start
        return -1


# The fast path's tables: canonical "*N" headers for common argument counts,
# and canonical "$N" headers for common argument sizes. Anything outside them
# goes to the exact path; so does everything when a setting's limit is
# smaller than a table.
_FAST_MAX_BULK = 4096
_FAST_MAX_COUNT = 1024
_COUNT_OF = {b"*%d" % n: n for n in range(1, _FAST_MAX_COUNT + 1)}
_HEADER_OF = [b"$%d" % n for n in range(_FAST_MAX_BULK)]


def _integer(buf: bytes, start: int, end: int) -> int | None:
    """Redis's string2ll over buf[start:end]: canonical decimal or None."""
    field = buf[start:end]
    if field.isdigit():
        if field[0] == 0x30 and len(field) > 1:
            return None
        return int(field)
    if len(field) > 1 and field[0] == 0x2D and field[1:].isdigit() and field[1] != 0x30:
        return int(field)
    return None


_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \n\r\t\0"


class _Unbalanced(Exception):
    """Internal: a quote was never closed, or a closing quote is glued to a word."""


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's sdssplitargs: words, "double quoted" with escapes, 'single quoted'.

    None when quotes are unbalanced, or a closing quote is not followed by a
    space or the end of the line.
    """
    args: list[bytes] = []
    i, n = 0, len(line)
    try:
        while True:
            while i < n and line[i] in b" \n\r\t\v\f":
                i += 1
            if i >= n:
                return args
            word = bytearray()
            i = _word(line, i, word)
            args.append(bytes(word))
    except _Unbalanced:
        return None


def _word(line: bytes, i: int, word: bytearray) -> int:
    """Append one word starting at i to `word`; return where the next one may start."""
    n = len(line)
    while i < n:
        c = line[i]
        if c in _SPACE:
            return i
        if c == 0x22:  # '"'
            i = _double_quoted(line, i + 1, word)
        elif c == 0x27:  # "'"
            i = _single_quoted(line, i + 1, word)
        else:
            word.append(c)
            i += 1
    return i


def _closing_quote(line: bytes, i: int) -> int:
    """After a closing quote at i: the next index, which must be a space or the end."""
    if i + 1 < len(line) and line[i + 1] not in b" \n\r\t\v\f":
        raise _Unbalanced
    return i + 1


def _double_quoted(line: bytes, i: int, word: bytearray) -> int:
    n = len(line)
    while i < n:
        c = line[i]
        if c == 0x5C and i + 3 < n and line[i + 1] == 0x78 and _is_hex(line[i + 2 : i + 4]):
            word.append(int(line[i + 2 : i + 4], 16))  # \xHH
            i += 4
        elif c == 0x5C and i + 1 < n:
            word += _ESCAPES.get(line[i + 1], line[i + 1 : i + 2])
            i += 2
        elif c == 0x22:
            return _closing_quote(line, i)
        else:
            word.append(c)
            i += 1
    raise _Unbalanced


def _single_quoted(line: bytes, i: int, word: bytearray) -> int:
    n = len(line)
    while i < n:
        c = line[i]
        if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
            word.append(0x27)
            i += 2
        elif c == 0x27:
            return _closing_quote(line, i)
        else:
            word.append(c)
            i += 1
    raise _Unbalanced


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(ch in _HEX for ch in pair)
