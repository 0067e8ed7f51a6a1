"""Parsing client requests: RESP multibulk arrays and inline commands, sans IO.

    parser = RequestParser()
    parser.feed(data)                 # whatever the socket gave
    for argv in parser.commands():    # every complete command, in order
        ...

Rules, as Redis 7.0's networking.c keeps them:
1. A request starting with '*' is a multibulk array of '$' bulk strings;
   anything else is an inline command, split on spaces with Redis's quoting
   (sdssplitargs).
2. A header line ("*3", "$5") ends at its '\\r'; the byte after it is
   skipped unchecked, and so are the two bytes after a bulk's data. A header
   must end within `max_inline_length` bytes, and an inline command's '\\n'
   too. Redis finds both ends with strchr, which stops at a NUL byte: a line
   holding a NUL before its end never ends, and fails once it outgrows the
   limit. (Redis checks that limit after each 16 KB read, so a line a little
   over it may pass there when it arrives in one piece; here it fails
   whatever the reads, as it does in Redis when it arrives in small ones.)
3. Counts and lengths are Redis's string2ll: canonical decimal in the int64
   range ("*03", "$+3", "$ 3" and "$-1" are refused).
4. Broken input raises RemoteProtocolError with Redis's wording, after the
   commands that preceded it have been returned: the server runs those,
   answers the error and closes the connection. The parser is unusable after.
5. A multibulk count <= 0 is an empty command and is skipped; so is an
   empty inline line.

Speed: multibulk commands are cut from one `bytes` buffer with `find`,
`split` and slices, never byte by byte; canonical ones by a fast path that
must accept and refuse exactly what the exact path does. When hiredis is
installed, a whole read is offered to it first; accelerator.py says when its
commands are taken: only where they are provably the exact path's. A
multibulk whose bulks arrive over many reads keeps the bulks already read,
as Redis keeps c->argv, so each is parsed once. The parser remembers how
many bytes it needs at least before it looks again, so a 100 MB argument
arriving in 64 KB reads is joined once, and a line sent a byte at a time is
not re-scanned for every byte.
"""

from __future__ import annotations

from queuekit.resp import accelerator, errors
from queuekit.resp.errors import RemoteProtocolError
from queuekit.resp.limits import Limits

# Before AUTH, Redis accepts only small frames (networking.c).
UNAUTHENTICATED_MAX_MULTIBULK = 10
UNAUTHENTICATED_MAX_BULK = 16384


class RequestParser:
    """Turns a stream of request bytes into commands (lists of bytes)."""

    __slots__ = (
        "_args",
        "_buf",
        "_buffered",
        "_bulk",
        "_chunks",
        "_need",
        "_partial",
        "_remaining",
        "_wait_for",
        "_whole_read_limit",
        "_whole_reads",
        "authenticated",
        "error",
        "limits",
    )

    def __init__(self, limits: Limits | None = None, *, authenticated: bool = True) -> None:
        self.limits = limits or Limits()
        # False until AUTH succeeds on a server with a password: frames are capped.
        self.authenticated = authenticated
        self._buf = b""
        self._chunks: list[bytes] = []
        self._buffered = 0
        # How many bytes _buf must hold at least before parsing can go on,
        # unless a read brings _wait_for: the end of a line still open.
        self._need = 0
        self._wait_for: bytes | None = None
        # The error that broke the stream (rule 4), raised by every later call.
        self.error: RemoteProtocolError | None = None
        # The multibulk being read (Redis's c->argv, c->multibulklen and
        # c->bulklen): its bulks so far, how many are still to come, the
        # length of the next one once its header is read (else -1), and how
        # many input bytes it has consumed.
        self._args: list[bytes] = []
        self._remaining = 0
        self._bulk = -1
        self._partial = 0
        # hiredis, when installed, for reads no longer than any limit (accelerator rule 1).
        self._whole_reads = accelerator.WholeReads() if accelerator.AVAILABLE else None
        self._whole_read_limit = min(
            self.limits.max_bulk_length,
            self.limits.max_multibulk_length,
            self.limits.max_inline_length,
        )

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed into commands."""
        return len(self._buf) + self._buffered + self._partial

    def feed(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)
            self._buffered += len(data)
            if self._wait_for is not None and self._wait_for in data:
                self._need = 0

    def commands(self) -> list[list[bytes]]:
        """Every complete command buffered so far; see rule 4 for errors."""
        if self.error is not None:
            raise self.error
        chunks = self._chunks
        # Without new bytes there is nothing new: what is left is incomplete.
        if not chunks or len(self._buf) + self._buffered < self._need:
            return []
        self._buf = b"".join([self._buf, *chunks]) if self._buf else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        commands: list[list[bytes]] = []
        try:
            self._parse(commands)
        except RemoteProtocolError as error:
            self.error = error
            self._buf = b""
            self._partial = 0
            if not commands:
                raise
        return commands

    def _parse(self, out: list[list[bytes]]) -> None:
        buf = self._buf
        size = len(buf)
        self._need = 0
        self._wait_for = None
        pos = self._bulks(buf, 0, out) if self._remaining else 0
        if not self._need:
            pos = self._parse_fast(buf, pos, out)
        while pos < size and not self._need:
            is_multibulk = buf[pos] == 0x2A  # '*'
            pos = (self._multibulk if is_multibulk else self._inline)(buf, pos, out)
        self._buf = buf[pos:] if pos < size else b""

    def _parse_fast(self, buf: bytes, start: int, out: list[list[bytes]]) -> int:
        """The common case at C speed: hiredis, else split on CRLF and walk the lines.

        The rest of the buffer from `start` goes to hiredis first, when it is
        installed, and is taken whole if accelerator.py's rules allow.
        Otherwise: accepts only frames the exact parser below would accept
        the same way (canonical counts and lengths within the limits, each
        bulk exactly its declared length), from `start`; at the first
        anything else it returns the offset of that command and the exact
        parser takes over from there. A large buffer is split a window at a
        time, so that a bulk full of CRLFs cannot make a list of millions of
        lines.
        """
        if not self.authenticated:  # the exact path applies the small pre-AUTH limits
            return start
        size = len(buf)
        whole_reads = self._whole_reads
        if whole_reads is not None and 0 < size - start <= self._whole_read_limit:
            commands = whole_reads.split(buf[start:] if start else buf)
            if commands is not None:
                out += commands
                return size
        limits = self.limits
        if (
            limits.max_bulk_length < _FAST_MAX_BULK
            or limits.max_multibulk_length < _FAST_MAX_COUNT
            or limits.max_inline_length < _FAST_MAX_HEADER
        ):
            return start
        while True:
            if start == 0 and size <= _FAST_WINDOW_BYTES:
                window = buf
            else:
                window = buf[start : start + _FAST_WINDOW_BYTES]
            lines = window.split(b"\r\n", _FAST_WINDOW_LINES)
            last = len(lines) - 1  # lines[last] is what follows the final CRLF split
            i = _fast_commands(lines, last, out)
            if i == last:
                end = start + len(window) - len(lines[last])
            else:
                end = start + sum(map(len, lines[:i])) + 2 * i
            whole = start + len(window) == size and last < _FAST_WINDOW_LINES
            if whole or end == start:
                return end
            start = end  # the window was cut short: go on from the first command left

    def _multibulk(self, buf: bytes, start: int, out: list[list[bytes]]) -> int:
        """Read the count line of the array at `start`, then its bulks as far as they go."""
        cr = buf.find(b"\r", start, start + self.limits.max_inline_length + 1)
        if cr < 0 or cr + 1 >= len(buf) or buf.find(b"\0", start, cr) >= 0:
            cr = self._header_end(buf, start, errors.TOO_BIG_MBULK_COUNT)
            if cr < 0:
                return start
        count = _COUNT_OF.get(buf[start:cr])  # a common canonical "*N", else the general case
        if count is None:
            count = _integer(buf, start + 1, cr)
        if count is None or count > self.limits.max_multibulk_length:
            raise RemoteProtocolError(errors.INVALID_MULTIBULK_LENGTH)
        if count > UNAUTHENTICATED_MAX_MULTIBULK and not self.authenticated:
            raise RemoteProtocolError(errors.UNAUTHENTICATED_MULTIBULK_LENGTH)
        pos = cr + 2
        if count <= 0:
            return pos
        self._remaining = count
        self._partial = pos - start
        return self._bulks(buf, pos, out)

    def _bulks(self, buf: bytes, pos: int, out: list[list[bytes]]) -> int:
        """Read the bulks of the array in progress from `pos`; where reading stopped.

        When the array is complete it goes to `out`; otherwise _need says how
        many bytes from the returned offset must arrive before going on.
        """
        args = self._args
        size = len(buf)
        find = buf.find
        header_limit = self.limits.max_inline_length + 1
        max_bulk = self.limits.max_bulk_length
        bulk_of = _BULK_OF.get
        start = pos
        length = self._bulk
        remaining = self._remaining
        while remaining:
            if length < 0:
                cr = find(b"\r", pos, pos + header_limit)
                # The common case inline; _header_end decides the others.
                if cr < 0 or cr + 1 >= size or find(b"\0", pos, cr) >= 0:
                    cr = self._header_end(buf, pos, errors.TOO_BIG_BULK_COUNT)
                    if cr < 0:
                        break
                length = bulk_of(buf[pos:cr], -1)  # a common canonical "$N", else -1
                if length < 0 or length > max_bulk:
                    length = self._bulk_length(buf, pos, cr)
                pos = cr + 2
            end = pos + length + 2  # Redis skips the two bytes after the data unchecked
            if end > size:
                self._need = end - pos
                break
            args.append(buf[pos : end - 2])
            pos = end
            length = -1
            remaining -= 1
        else:
            out.append(args)
            self._args = []
            self._remaining = 0
            self._bulk = -1
            self._partial = 0
            return pos
        self._bulk = length
        self._remaining = remaining
        self._partial += pos - start
        return pos

    def _header_end(self, buf: bytes, pos: int, too_big: str) -> int:
        """The '\\r' ending the header line at `pos`; or -1, with _need set, until it is whole.

        Like Redis's strchr, the search stops at a NUL byte (rule 2).
        """
        limit = self.limits.max_inline_length
        size = len(buf)
        cr = buf.find(b"\r", pos, pos + limit + 1)
        if cr >= 0 and buf.find(b"\0", pos, cr) < 0:
            if cr + 1 < size:
                return cr
            self._need = size - pos + 1  # the byte after the CR
            return -1
        self._wait_for_line(buf, pos, too_big, b"\r" if cr < 0 else None)
        return -1

    def _wait_for_line(self, buf: bytes, pos: int, too_big: str, end: bytes | None) -> None:
        """No line end in sight at `pos`: fail if the line is over the limit, else wait.

        Nothing changes before the line outgrows the limit, unless a read
        brings `end` (None: a NUL byte already blocks it): until then the
        reads are not even joined, so a line sent a byte at a time costs
        linear time, not quadratic.
        """
        limit = self.limits.max_inline_length
        if len(buf) - pos > limit:
            raise RemoteProtocolError(too_big)
        self._need = limit + 1
        self._wait_for = end

    def _bulk_length(self, buf: bytes, pos: int, cr: int) -> int:
        """The length in the complete bulk header buf[pos:cr], checked as Redis checks it."""
        if buf[pos] != 0x24:  # '$'
            raise RemoteProtocolError(errors.expected_dollar(buf[pos]))
        length = _integer(buf, pos + 1, cr)
        if length is None or length < 0 or length > self.limits.max_bulk_length:
            raise RemoteProtocolError(errors.INVALID_BULK_LENGTH)
        if length > UNAUTHENTICATED_MAX_BULK and not self.authenticated:
            raise RemoteProtocolError(errors.UNAUTHENTICATED_BULK_LENGTH)
        return length

    def _inline(self, buf: bytes, start: int, out: list[list[bytes]]) -> int:
        newline = buf.find(b"\n", start, start + self.limits.max_inline_length + 1)
        if newline < 0 or buf.find(b"\0", start, newline) >= 0:  # rule 2
            end = b"\n" if newline < 0 else None
            self._wait_for_line(buf, start, errors.TOO_BIG_INLINE, end)
            return start
        line_end = newline - 1 if newline > start and buf[newline - 1] == 0x0D else newline
        args = split_args(buf[start:line_end])
        if args is None:
            raise RemoteProtocolError(errors.UNBALANCED_QUOTES)
        if args:
            out.append(args)
        return newline + 1


# The fast path's tables: canonical "*N" headers for common argument counts,
# and canonical "$N" headers for common argument sizes. Anything outside them
# goes to the exact path; so does everything when a setting's limit is
# smaller than a table.
_FAST_MAX_BULK = 4096
_FAST_MAX_COUNT = 1024
_FAST_MAX_HEADER = len(b"*1024")  # the longest header line in the tables, in bytes
_COUNT_OF = {b"*%d" % n: n for n in range(1, _FAST_MAX_COUNT + 1)}
_HEADER_OF = [b"$%d" % n for n in range(_FAST_MAX_BULK)]
_BULK_OF = {header: n for n, header in enumerate(_HEADER_OF)}
# A buffer is split at most this many bytes and lines at a time. Any command
# the tables allow spans fewer lines than a window (2 * 1024 + 1); one of
# more bytes goes to the exact path.
_FAST_WINDOW_BYTES = 1024 * 1024
_FAST_WINDOW_LINES = 8192


def _fast_commands(lines: list[bytes], last: int, out: list[list[bytes]]) -> int:
    """Append the commands at the start of `lines` that the tables allow; the next line."""
    count_of = _COUNT_OF.get
    header_of = _HEADER_OF.__getitem__
    i = 0
    while i < last:
        count = count_of(lines[i])
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
    return i


# string2ll refuses 21 characters or more, and anything outside int64.
_MAX_DIGITS = 20
_LLONG_MIN = -(2**63)
_LLONG_MAX = 2**63 - 1


def _integer(buf: bytes, start: int, end: int) -> int | None:
    """Redis's string2ll over buf[start:end]: canonical decimal in int64, or None."""
    if end - start > _MAX_DIGITS:
        return None
    field = buf[start:end]
    if field.isdigit():
        if field[0] == 0x30 and len(field) > 1:
            return None
        value = int(field)
    elif len(field) > 1 and field[0] == 0x2D and field[1] != 0x30 and field[1:].isdigit():
        value = int(field)
    else:
        return None
    return value if _LLONG_MIN <= value <= _LLONG_MAX else None


_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_HEX = b"0123456789abcdefABCDEF"
_BLANK = b" \n\r\t\v\f"  # isspace(): skipped between words, and after a closing quote
_WORD_END = b" \n\r\t"  # what ends an unquoted word: not \v nor \f, which stay in it


class _Unbalanced(Exception):
    """Internal: a quote was never closed, or a closing quote is glued to a word."""


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's sdssplitargs: words, "double quoted" with escapes, 'single quoted'.

    None when quotes are unbalanced, or a closing quote is not followed by a
    space or the end of the line. A closing quote ends its word. Like the C
    original, it reads `line` as a C string: a NUL byte ends it.
    """
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
    if not (b'"' in line or b"'" in line or b"\v" in line or b"\f" in line):
        return line.split()  # the common case: words between the four word-ending bytes
    args: list[bytes] = []
    i, n = 0, len(line)
    try:
        while True:
            while i < n and line[i] in _BLANK:
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
        if c in _WORD_END:
            return i
        if c == 0x22:  # '"'
            return _double_quoted(line, i + 1, word)
        if c == 0x27:  # "'"
            return _single_quoted(line, i + 1, word)
        word.append(c)
        i += 1
    return i


def _closing_quote(line: bytes, i: int) -> int:
    """After a closing quote at i: the next index, which must be a space or the end."""
    if i + 1 < len(line) and line[i + 1] not in _BLANK:
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
