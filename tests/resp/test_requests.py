"""RequestParser, h11 style: one table of cases drives every check.

Each case is fed whole, byte by byte, in random chunkings and followed by
the start of another command, to the parser as the server uses it (hiredis
first, when installed), to the same parser without hiredis, and to the same
parser with its fast paths switched off: all must give the case's commands
(and its error, after the commands that preceded it). Hypothesis then checks
that any bytes, RESP3 lookalikes included, parse or raise
RemoteProtocolError, the same however they are cut and on every path, and
that encode_command round-trips.

The table is in request_cases.py; its expectations are Redis 7.0.15's, which
`test_redis_agrees` checks against a real redis-server.
"""

from __future__ import annotations

import itertools
import random
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queuekit.resp import accelerator
from queuekit.resp import errors as protocol_errors
from queuekit.resp.encoder import encode_command
from queuekit.resp.errors import RemoteProtocolError
from queuekit.resp.limits import Limits
from queuekit.resp.requests import RequestParser, split_args
from tests.resp.request_cases import CASES, DEFAULT, PING, SMALL, TRAILERS, Case, mb
from tests.support import wire
from tests.support.redis_server import RedisServer, start_redis


class PythonRequestParser(RequestParser):
    """The parser without hiredis: its pure-Python fast path, then the exact path."""

    __slots__ = ()

    def __init__(self, limits: Limits | None = None, *, authenticated: bool = True) -> None:
        super().__init__(limits, authenticated=authenticated)
        self._whole_reads = None


class ExactRequestParser(RequestParser):
    """The parser with its fast paths switched off: what they must agree with."""

    __slots__ = ()

    def _parse_fast(self, buf: bytes, start: int, out: list[list[bytes]]) -> int:
        return start


PARSERS = [RequestParser, PythonRequestParser, ExactRequestParser]
needs_hiredis = pytest.mark.skipif(
    not accelerator.AVAILABLE, reason="hiredis is not installed (it is in the test extra)"
)


def ids(cases: Sequence[Case]) -> list[str]:
    return [case.name for case in cases]


@dataclass
class Outcome:
    commands: list[list[bytes]]
    error: str | None
    parser: RequestParser


def run(parser_class: type[RequestParser], case: Case, pieces: Sequence[bytes]) -> Outcome:
    """Feed `pieces` one by one, collecting commands, until the end or an error."""
    parser = parser_class(case.limits, authenticated=case.authenticated)
    commands: list[list[bytes]] = []
    try:
        for piece in pieces:
            parser.feed(piece)
            commands += parser.commands()
        commands += parser.commands()
    except RemoteProtocolError as error:
        return Outcome(commands, error.message, parser)
    return Outcome(commands, None, parser)


def check(case: Case, outcome: Outcome, trailing: int = 0) -> None:
    assert outcome.commands == case.commands
    assert outcome.error == case.error
    if case.error is None:
        assert outcome.parser.buffered == case.rest + trailing
    else:
        with pytest.raises(RemoteProtocolError):  # the parser stays broken
            outcome.parser.commands()


def chunkings(data: bytes, seed: int) -> Iterator[list[bytes]]:
    """A few random ways to cut `data`: small pieces, large pieces, and a mix."""
    rng = random.Random(seed)
    for top in (3, max(4, len(data) // 3), len(data) + 1):
        pieces, pos = [], 0
        while pos < len(data):
            step = rng.randint(1, top)
            pieces.append(data[pos : pos + step])
            pos += step
        yield pieces


@pytest.mark.parametrize("parser_class", PARSERS)
@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_whole(case: Case, parser_class: type[RequestParser]) -> None:
    """A case fed in one piece gives its commands, its error and its rest."""
    check(case, run(parser_class, case, [case.data]))


@pytest.mark.parametrize("parser_class", PARSERS)
@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_byte_by_byte(case: Case, parser_class: type[RequestParser]) -> None:
    """A case fed one byte at a time gives the same as whole."""
    data = case.data
    check(case, run(parser_class, case, [data[i : i + 1] for i in range(len(data))]))


@pytest.mark.parametrize("parser_class", PARSERS)
@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_random_chunks(case: Case, parser_class: type[RequestParser]) -> None:
    """A case cut at random places gives the same as whole."""
    for pieces in chunkings(case.data, seed=len(case.name)):
        check(case, run(parser_class, case, pieces))


COMPLETE = [case for case in CASES if case.rest == 0]


@pytest.mark.parametrize("trailer", TRAILERS, ids=["multibulk", "inline"])
@pytest.mark.parametrize("parser_class", PARSERS)
@pytest.mark.parametrize("case", COMPLETE, ids=ids(COMPLETE))
def test_trailing_bytes(case: Case, parser_class: type[RequestParser], trailer: bytes) -> None:
    """A complete case followed by the start of another command leaves that start buffered."""
    data = case.data + trailer
    check(case, run(parser_class, case, [data]), trailing=len(trailer))
    check(case, run(parser_class, case, [case.data, trailer]), trailing=len(trailer))


def test_fast_path_takes_canonical_frames() -> None:
    """The fast path consumes canonical frames up to its tables' edges, and stops at others."""
    canonical = (
        mb(b"SET", b"k", b"x" * 4095)
        + mb(b"RPUSH", *[b"v"] * 1023)
        + mb(b"ECHO", b"a\rb\0\n")
        + PING
    )
    out: list[list[bytes]] = []
    assert PythonRequestParser()._parse_fast(canonical, 0, out) == len(canonical)
    assert len(out) == 4
    for other in [b"*1\r\n$04\r\nPING\r\n", mb(b"x" * 4096), mb(*[b"v"] * 1025), b"PING\r\n"]:
        out = []
        assert PythonRequestParser()._parse_fast(PING + other + PING, 0, out) == len(PING)
        assert out == [[b"PING"]]


def test_fast_path_is_off_where_the_exact_path_applies_other_rules() -> None:
    """Before AUTH, and with limits below its tables, the fast path consumes nothing."""
    for parser in [
        PythonRequestParser(authenticated=False),
        PythonRequestParser(Limits(max_bulk_length=4095)),
        PythonRequestParser(Limits(max_multibulk_length=1023)),
        PythonRequestParser(Limits(max_inline_length=4)),
    ]:
        assert parser._parse_fast(PING, 0, []) == 0


def test_fast_path_splits_a_large_buffer_in_windows() -> None:
    """A pipeline larger than the fast path's window is still parsed whole, in order."""
    commands = [[b"SET", b"key:%d" % i, b"v" * (i % 100)] for i in range(20000)]
    data = b"".join(mb(*command) for command in commands)
    assert len(data) > 1024 * 1024
    out: list[list[bytes]] = []
    assert RequestParser()._parse_fast(data, 0, out) == len(data)
    assert out == commands


class CountingParser(PythonRequestParser):
    """Counts the commands the exact path reads from a count line."""

    __slots__ = ("exact",)

    def __init__(self) -> None:
        super().__init__()
        self.exact = 0

    def _multibulk(self, buf: bytes, start: int, out: list[list[bytes]]) -> int:
        self.exact += 1
        return super()._multibulk(buf, start, out)


def test_fast_path_goes_on_after_a_command_split_between_reads() -> None:
    """A command cut by a read boundary is finished, then the fast path takes the rest."""
    data = b"".join(mb(b"SET", b"key:%d" % i, b"value") for i in range(100))
    parser = CountingParser()
    half = len(data) // 2 + 3  # inside a command
    parser.feed(data[:half])
    first = parser.commands()
    assert parser.exact == 1  # the incomplete last command
    parser.feed(data[half:])
    assert first + parser.commands() == [[b"SET", b"key:%d" % i, b"value"] for i in range(100)]
    assert parser.exact == 1


@needs_hiredis
def test_hiredis_takes_a_whole_read_beyond_the_python_tables() -> None:
    """With hiredis, a whole read of canonical commands is taken in one step, big bulks too."""
    commands = [[b"SET", b"k", b"x" * 5000], [b"RPUSH", b"l", *[b"v"] * 2000], [b"PING"]]
    data = b"".join(mb(*command) for command in commands)
    out: list[list[bytes]] = []
    assert RequestParser()._parse_fast(data, 0, out) == len(data)
    assert out == commands


LOOKALIKES = [case.data for case in CASES if case.name.startswith("lookalike")]


@needs_hiredis
@pytest.mark.parametrize("data", LOOKALIKES)
def test_hiredis_leaves_resp3_lookalikes_to_the_exact_parser(data: bytes) -> None:
    """A read holding a type byte that hiredis reads as a bulk or an array is declined."""
    assert accelerator.WholeReads().split(data) is None


@needs_hiredis
@pytest.mark.parametrize(
    "partial", [b"*2\r\n", b"*2\r\n$3\r\nGET\r\n", b"*1\r\n$4\r\nPI", PING[:-1], PING + b"*"]
)
def test_hiredis_declines_a_read_that_ends_inside_a_command(partial: bytes) -> None:
    """A read ending inside a command is declined, and the next read starts afresh."""
    whole_reads = accelerator.WholeReads()
    assert whole_reads.split(partial) is None
    assert whole_reads.split(PING) == [[b"PING"]]


@pytest.mark.parametrize("parser_class", PARSERS)
@pytest.mark.parametrize(
    ("limits", "data", "error"),
    [
        (Limits(max_bulk_length=8), mb(b"ECHO", b"123456789"), protocol_errors.INVALID_BULK_LENGTH),
        (
            Limits(max_multibulk_length=2),
            mb(b"a", b"b", b"c"),
            protocol_errors.INVALID_MULTIBULK_LENGTH,
        ),
        (Limits(max_inline_length=1), PING, protocol_errors.TOO_BIG_MBULK_COUNT),
    ],
)
def test_each_limit_holds_for_a_whole_read(
    parser_class: type[RequestParser], limits: Limits, data: bytes, error: str
) -> None:
    """A complete frame over one limit fails in one read too, where hiredis would take it."""
    case = Case("over a limit", data, [], error, limits=limits)
    check(case, run(parser_class, case, [data]))


def test_split_args_reads_a_c_string() -> None:
    """split_args stops at a NUL byte, as sdssplitargs does on a C string."""
    assert split_args(b"a b\0c d") == [b"a", b"b"]
    assert split_args(b"a\0") == [b"a"]
    assert split_args(b'"a\0b"') is None
    assert split_args(b"") == []


@pytest.mark.parametrize("parser_class", PARSERS)
def test_large_argument_is_joined_once(parser_class: type[RequestParser]) -> None:
    """A 16 MB argument in 64 KB reads waits, unjoined, until its last byte, then parses."""
    value = bytes(range(256)) * (16 * 1024 * 1024 // 256)
    data = mb(b"SET", b"k", value)
    parser = parser_class()
    for pos in range(0, len(data) - 1, 65536):
        piece = data[pos : min(pos + 65536, len(data) - 1)]
        parser.feed(piece)
        assert parser.commands() == []
        assert len(parser._buf) <= 65536  # the reads wait in a list, not in a growing buffer
        assert parser.buffered == pos + len(piece)
    parser.feed(data[-1:] + PING)
    assert parser.commands() == [[b"SET", b"k", value], [b"PING"]]
    assert parser.buffered == 0


@pytest.mark.parametrize("parser_class", PARSERS)
def test_many_arguments_are_parsed_once(parser_class: type[RequestParser]) -> None:
    """The bulks of a 200,000-argument command, in 64 KB reads, are kept as parsed, not re-read."""
    args = [b"RPUSH", b"l", *(b"%d" % i for i in range(200000))]
    data = mb(*args)
    parser = parser_class()
    for pos in range(0, len(data), 65536):
        parser.feed(data[pos : pos + 65536])
        commands = parser.commands()
        # Only the tail of the last read that is not a whole bulk stays unparsed.
        assert len(parser._buf) < 16
        assert parser.buffered == (0 if commands else min(pos + 65536, len(data)))
    assert commands == [args]


# -- properties ----------------------------------------------------------------

TOKENS = [
    b"*", b"$", b"\r\n", b"\r", b"\n", b"\0", b"-", b"+", b" ", b"\t", b"\x0b", b'"', b"'",
    b"\\", b"\\x4", b"x", b"0", b"1", b"3", b"12", b"PING", b"\xff",
    b"*1\r\n", b"*2\r\n", b"$1\r\n", b"$3\r\n", b"$0\r\n", b"*-1\r\n",
    b"+OK\r\n", b"(12\r\n", b"=5\r\ntxt:a\r\n", b"_\r\n", b"#f\r\n", b":0\r\n",
    b"~1\r\n", b">1\r\n", b"|1\r\n", b"%1\r\n",
]  # fmt: skip

# RESP3 items other than '$' bulks, each well formed: a reply parser such as
# hiredis reads them, inside an array or alone, where Redis refuses or reads
# them inline.
RESP3_ITEMS = [
    b"+abc\r\n", b"(12\r\n", b"=7\r\ntxt:abc\r\n", b"_\r\n", b"#t\r\n", b"#f\r\n",
    b",1.5\r\n", b":0\r\n", b"-ERR x\r\n", b"*0\r\n", b"*-1\r\n",
    b"%1\r\n$1\r\na\r\n$1\r\nb\r\n", b"~1\r\n$1\r\na\r\n", b">1\r\n$1\r\na\r\n",
    b"|1\r\n$1\r\na\r\n$1\r\nb\r\n",
]  # fmt: skip


@st.composite
def multibulk_frames(draw: st.DrawFn, *, mutate: bool) -> bytes:
    """A multibulk command; with `mutate`, now and then a count, length or CRLF is off."""
    args = draw(
        st.lists(st.binary(max_size=10) | st.sampled_from([b"x" * 4096, b"\r\n" * 9]), max_size=5)
    )

    def maybe(canonical: bytes, *others: bytes) -> bytes:
        return draw(st.sampled_from([canonical] * 4 + list(others))) if mutate else canonical

    count = b"%d" % len(args)
    parts = [b"*" + maybe(count, b"0" + count, b"%d" % (len(args) + 1), b"-1", b"+1") + b"\r\n"]
    for arg in args:
        length = b"%d" % len(arg)
        length = maybe(length, b"%d" % (len(arg) + 1), b"%d" % max(0, len(arg) - 1), b"0" + length)
        parts.append(b"$" + length + b"\r\n" + arg + maybe(b"\r\n", b"XY", b"\r"))
    return b"".join(parts)


@st.composite
def resp3_lookalikes(draw: st.DrawFn) -> bytes:
    """An array of '$' bulks and other RESP3 items, or one such item alone."""
    bulk = st.binary(max_size=6).map(lambda arg: b"$%d\r\n%s\r\n" % (len(arg), arg))
    items = draw(st.lists(bulk | st.sampled_from(RESP3_ITEMS), min_size=1, max_size=4))
    kind = draw(st.sampled_from([b"*", b"*", b"~", b">", b"|", b"%"]))
    if kind == b"%" and len(items) % 2:
        items.append(b"$1\r\nz\r\n")
    count = len(items) // 2 if kind in (b"|", b"%") else len(items)
    return kind + b"%d\r\n" % count + b"".join(items)


inline_lines = st.lists(
    st.sampled_from([b"a", b"bc", b" ", b"\t", b'"q r"', b"'s'", b'"\\x41"', b"\\", b'"', b"'"]),
    max_size=6,
).map(lambda words: b"".join(words) + b"\r\n")
noise = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=3), max_size=40).map(b"".join)
streams = st.lists(
    multibulk_frames(mutate=False)
    | multibulk_frames(mutate=True)
    | resp3_lookalikes()
    | inline_lines
    | noise,
    min_size=1,
    max_size=8,
).map(b"".join)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def outcome_of(outcome: Outcome) -> tuple[list[list[bytes]], str | None, int | None]:
    buffered = outcome.parser.buffered if outcome.error is None else None
    return outcome.commands, outcome.error, buffered


@settings(max_examples=400, deadline=None)
@given(
    data=streams | streams | st.binary(max_size=200),
    points=st.lists(st.integers(min_value=0), max_size=12),
    limits=st.sampled_from([DEFAULT, SMALL]),
    authenticated=st.booleans(),
)
def test_any_bytes_parse_or_raise(
    data: bytes, points: list[int], limits: Limits, authenticated: bool
) -> None:
    """Any bytes give commands of bytes or RemoteProtocolError, alike however cut, on any path."""
    case = Case("fuzz", data, [], limits=limits, authenticated=authenticated)
    whole = run(ExactRequestParser, case, [data])
    assert all(type(arg) is bytes for command in whole.commands for arg in command)
    assert all(command for command in whole.commands)
    expected = outcome_of(whole)
    for parser_class in PARSERS:
        assert outcome_of(run(parser_class, case, [data])) == expected
        assert outcome_of(run(parser_class, case, cut(data, points))) == expected


@settings(max_examples=300, deadline=None)
@given(stream=streams, points=st.lists(st.integers(min_value=0), max_size=12))
def test_fast_and_exact_paths_agree_on_frames(stream: bytes, points: list[int]) -> None:
    """On generated frames, canonical or not, the fast paths change nothing but speed."""
    case = Case("frames", stream, [])
    expected = outcome_of(run(ExactRequestParser, case, [stream]))
    assert outcome_of(run(RequestParser, case, [stream])) == expected
    assert outcome_of(run(RequestParser, case, cut(stream, points))) == expected
    assert outcome_of(run(PythonRequestParser, case, cut(stream, points))) == expected


arguments = st.binary(max_size=20) | st.sampled_from([b"", b"\r\n", b"*1\r\n$0\r\n", b"\0"])
commands_lists = st.lists(
    st.lists(arguments, min_size=1, max_size=8)
    | st.integers(4090, 4200).map(lambda n: [b"SET", b"k", b"\r" * n])
    | st.integers(1020, 1030).map(lambda n: [b"a"] * n),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(commands=commands_lists, points=st.lists(st.integers(min_value=0), max_size=12))
def test_encode_command_round_trips(commands: list[list[bytes]], points: list[int]) -> None:
    """Commands written by encode_command parse back identically, whole and in pieces."""
    data = b"".join(map(encode_command, commands))
    case = Case("round trip", data, commands)
    for parser_class in PARSERS:
        check(case, run(parser_class, case, [data]))
        check(case, run(parser_class, case, cut(data, points)))


def test_encode_command_of_nothing_is_skipped() -> None:
    """An empty command encodes as *0, which the parser skips."""
    assert encode_command([]) == b"*0\r\n"
    case = Case("empty", encode_command([]) + PING, [[b"PING"]])
    check(case, run(RequestParser, case, [case.data]))


# -- the oracle ------------------------------------------------------------------

SENTINEL = b"__queuekit_sentinel__"
PASSWORD = b"queuekit-secret"


@pytest.fixture(scope="module")
def redis_with_password() -> Iterator[RedisServer]:
    """A private redis-server with requirepass, for the limits before AUTH."""
    server = start_redis()
    try:
        # Set after the start: start_redis waits for a PONG, which NOAUTH is not.
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.sendall(mb(b"CONFIG", b"SET", b"requirepass", PASSWORD))
            assert wire.read_reply(sock.makefile("rb")) == ("+", b"OK")
        yield server
    finally:
        server.stop()


def flush(server: RedisServer) -> None:
    """Empty the server, so that two runs of the same commands answer alike."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(mb(b"AUTH", PASSWORD) + mb(b"FLUSHALL"))
        stream = sock.makefile("rb")
        wire.read_reply(stream)  # OK, or an error where there is no password
        assert wire.read_reply(stream) == ("+", b"OK")


def is_sentinel(reply: wire.Tagged) -> bool:
    """The reply to the sentinel sent after the bytes under test."""
    # Before AUTH every command but AUTH answers NOAUTH: the sentinel is an AUTH.
    return reply == ("$", SENTINEL) or str(reply[1]).startswith("WRONGPASS")


def redis_replies(
    server: RedisServer, data: bytes, *, authenticated: bool, ends: str = "complete", count: int = 0
) -> tuple[list[wire.Tagged], bool]:
    """Send `data` to Redis; its replies, and whether it closed the connection.

    `data` ends "complete": a sentinel follows, and the replies before its
    reply are read. Or "error": the replies are read until Redis hangs up (no
    sentinel: near the 64 KiB limit, bytes after the error would change it).
    Or "waiting" for the rest of a command: `count` replies are read, and
    Redis must send nothing more.
    """
    flush(server)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        stream = sock.makefile("rb")
        if ends == "waiting":
            sock.sendall(data)
            replies = [wire.read_reply(stream) for _ in range(count)]
            sock.settimeout(0.1)
            with pytest.raises(TimeoutError):
                sock.recv(1)
            return replies, False
        sentinel = mb(b"ECHO" if authenticated else b"AUTH", SENTINEL)
        sock.sendall(data + (sentinel if ends == "complete" else b""))
        replies = []
        while True:
            try:
                reply = wire.read_reply(stream)
            except EOFError:
                return replies, True
            if is_sentinel(reply):
                return replies, False
            replies.append(reply)


ORACLE_CASES = [case for case in CASES if case.not_redis is None and case.limits == DEFAULT]


@pytest.mark.redis
@pytest.mark.parametrize("case", ORACLE_CASES, ids=ids(ORACLE_CASES))
def test_redis_agrees(
    case: Case, redis_server: RedisServer, redis_with_password: RedisServer
) -> None:
    """Real Redis answers the case's bytes as it answers the case's commands, then its error."""
    server = redis_server if case.authenticated else redis_with_password
    auth = case.authenticated
    ends = "error" if case.error else "waiting" if case.rest else "complete"
    replies, closed = redis_replies(
        server, case.data, authenticated=auth, ends=ends, count=len(case.commands)
    )
    # The same commands, written canonically: any other split of the bytes into
    # arguments would change a reply (ECHO's, or the unknown command error quoting them).
    canonical = b"".join(mb(*command) for command in case.commands)
    expected, _ = redis_replies(server, canonical, authenticated=auth)
    if case.error is None:
        assert not closed
        assert replies == expected
    else:
        assert closed
        assert replies == [*expected, ("-", "ERR " + case.error)]
