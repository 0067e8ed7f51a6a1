"""ReplyParser, h11 style: the reply table whole, byte by byte, in chunks, with trailing bytes.

Every test runs twice: on the pure-Python parser, and with hiredis (where it
is exact), which must give the same replies and errors.

Then RESP3 attributes (dropped), the other RESP3 types, malformed replies
(ProtocolError), a 50 MB bulk arriving in 64 KB reads, and two properties:
any bytes give replies or ProtocolError, however they are cut; and any
reply value, encoded, parses back to what the encoding keeps of it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Pairs, Push, Status, Verbatim
from queuekit.resp import replies as replies_module
from queuekit.resp.encoder import encode_reply, format_double
from queuekit.resp.errors import ProtocolError
from queuekit.resp.replies import HIREDIS, NEED_DATA, ReplyParser
from tests.resp.reply_cases import REPLY_CASES, ReplyCase, typed

IDS = [case.name for case in REPLY_CASES]
# The start of another reply, which must stay buffered.
TRAILER = b"*2\r\n$1\r\na\r\n:"
TRAILER_END = b"1\r\n"


_accelerate = False  # the path under test, set by `parser_path`


@pytest.fixture(
    autouse=True,
    scope="module",
    params=[False, pytest.param(True, marks=pytest.mark.skipif(not HIREDIS, reason="no hiredis"))],
    ids=["pure", "hiredis"],
)
def parser_path(request: pytest.FixtureRequest) -> Iterator[None]:
    global _accelerate
    _accelerate = request.param
    yield
    _accelerate = False


def new_parser() -> ReplyParser:
    return ReplyParser(accelerate=_accelerate)


def replies_of(pieces: Sequence[bytes]) -> tuple[list[Any], ReplyParser]:
    """Feed `pieces` one by one, taking every reply as soon as it is complete."""
    parser = new_parser()
    replies = []
    for piece in pieces:
        parser.feed(piece)
        while (reply := parser.next_reply()) is not NEED_DATA:
            replies.append(reply)
    return replies, parser


def chunkings(data: bytes, seed: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    result = []
    for top in (3, max(4, len(data) // 3), len(data) + 1):
        pieces, pos = [], 0
        while pos < len(data):
            step = rng.randint(1, top)
            pieces.append(data[pos : pos + step])
            pos += step
        result.append(pieces)
    return result


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("case", REPLY_CASES, ids=IDS)
def test_whole(case: ReplyCase, resp: int) -> None:
    """A reply fed in one piece parses to the expected value, then NEED_DATA."""
    replies, parser = replies_of([case.wire(resp)])
    assert [typed(reply) for reply in replies] == [typed(case.back(resp))]
    assert parser.next_reply() is NEED_DATA


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("case", REPLY_CASES, ids=IDS)
def test_byte_by_byte(case: ReplyCase, resp: int) -> None:
    """Fed one byte at a time, a reply is NEED_DATA until its last byte."""
    data = case.wire(resp)
    parser = new_parser()
    for i in range(len(data) - 1):
        parser.feed(data[i : i + 1])
        assert parser.next_reply() is NEED_DATA
    parser.feed(data[-1:])
    assert typed(parser.next_reply()) == typed(case.back(resp))


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("case", REPLY_CASES, ids=IDS)
def test_random_chunks(case: ReplyCase, resp: int) -> None:
    """Cut at random places, a reply parses the same."""
    data = case.wire(resp)
    for pieces in chunkings(data, seed=len(case.name)):
        replies, _ = replies_of(pieces)
        assert [typed(reply) for reply in replies] == [typed(case.back(resp))]


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("case", REPLY_CASES, ids=IDS)
def test_trailing_bytes(case: ReplyCase, resp: int) -> None:
    """A reply followed by the start of another leaves that start buffered, to finish later."""
    replies, parser = replies_of([case.wire(resp) + TRAILER])
    assert [typed(reply) for reply in replies] == [typed(case.back(resp))]
    parser.feed(TRAILER_END)
    assert parser.next_reply() == [b"a", 1]
    assert parser.next_reply() is NEED_DATA


@pytest.mark.parametrize("resp", [2, 3])
def test_pipeline_of_every_reply(resp: int) -> None:
    """All the table's replies in one buffer come out one by one, in order."""
    data = b"".join(case.wire(resp) for case in REPLY_CASES)
    expected = [typed(case.back(resp)) for case in REPLY_CASES]
    for pieces in [[data], *chunkings(data, seed=resp)]:
        replies, _ = replies_of(pieces)
        assert [typed(reply) for reply in replies] == expected


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"|1\r\n+key\r\n+val\r\n:5\r\n", 5),
        (b"|0\r\n:7\r\n", 7),
        (b"|1\r\n+k\r\n%1\r\n+a\r\n*1\r\n:1\r\n$2\r\nhi\r\n", b"hi"),
        (b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n", [1, 2]),
        (b"*2\r\n:1\r\n|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n:2\r\n", [1, 2]),
        (b"%1\r\n|1\r\n+a\r\n+b\r\n+k\r\n+v\r\n", {Status(b"k"): Status(b"v")}),
        (b"|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n_\r\n", None),
    ],
)
def test_attributes_are_dropped(data: bytes, value: Any) -> None:
    """RESP3 attribute frames, top level or nested, are read and skipped."""
    for pieces in [[data], [data[i : i + 1] for i in range(len(data))]]:
        replies, _ = replies_of(pieces)
        assert [typed(reply) for reply in replies] == [typed(value)]


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (
            b"(3492890328409238509324850943850943825024385\r\n",
            3492890328409238509324850943850943825024385,
        ),
        (b"(-1\r\n", -1),
        (b"!21\r\nSYNTAX invalid syntax\r\n", CommandError("SYNTAX invalid syntax")),
        (b"=7\r\nmkd:*a*\r\n", b"*a*"),
        (b",nan\r\n", float("nan")),
        (b",-1.5e-3\r\n", -0.0015),
        (b",.5\r\n", 0.5),
        (b"%-1\r\n", None),
        (b"*-1\r\n", NULL_ARRAY),
        (b"~2\r\n*1\r\n:1\r\n:2\r\n", [[1], 2]),  # an unhashable member: a list
        (b"%1\r\n*2\r\n:1\r\n*1\r\n:2\r\n:3\r\n", {(1, (2,)): 3}),
        (b"%1\r\n~1\r\n:1\r\n:2\r\n", {frozenset({1}): 2}),
    ],
)
def test_other_types(data: bytes, value: Any) -> None:
    """Big numbers, blob errors, other verbatim formats, odd doubles and keys parse."""
    replies, _ = replies_of([data])
    assert [typed(reply) for reply in replies] == [typed(value)]


MALFORMED = [
    b"?x\r\n",
    b"\r\n",
    b":abc\r\n",
    b": 1\r\n",
    b":1_0\r\n",
    b":+1\r\n",
    b":\r\n",
    b"$3\r\nabcXY",
    b"$3\r\nabc\rX",
    b"$-2\r\n",
    b"$x\r\n",
    b"*-2\r\n",
    b"*1\r\n?\r\n",
    b"=3\r\nabc\r\n",
    b"=5\r\ntxtab\r\n",
    b"#x\r\n",
    b"#\r\n",
    b",1.5x\r\n",
    b", 1\r\n",
    b",1_0\r\n",
    b",infinity\r\n",
    b"(1.5\r\n",
    b":" + b"9" * 5000 + b"\r\n",
]


@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_replies_raise(data: bytes) -> None:
    """Bytes that are not RESP raise ProtocolError, whole and byte by byte."""
    with pytest.raises(ProtocolError):
        replies_of([data])
    with pytest.raises(ProtocolError):
        replies_of([data[i : i + 1] for i in range(len(data))])


def test_large_bulk_is_joined_once() -> None:
    """A 50 MB bulk in 64 KB reads is NEED_DATA, unjoined, until its last byte."""
    value = bytes(range(256)) * (50 * 1024 * 1024 // 256)
    data = b"$%d\r\n%s\r\n" % (len(value), value)
    parser = new_parser()
    for pos in range(0, len(data) - 1, 65536):
        parser.feed(data[pos : min(pos + 65536, len(data) - 1)])
        assert parser.next_reply() is NEED_DATA
        assert len(parser._buf) <= 65536  # the reads wait in a list, not in a growing buffer
    parser.feed(data[-1:] + b":1\r\n")
    reply = parser.next_reply()
    assert reply == value
    assert parser.next_reply() == 1


def test_large_array_is_parsed_once() -> None:
    """An array of 100,000 elements in 64 KB reads keeps what is parsed: the buffer stays small."""
    items = [b"%d" % i for i in range(100000)]
    data = encode_reply(items)
    parser = new_parser()
    for pos in range(0, len(data), 65536):
        parser.feed(data[pos : pos + 65536])
        reply = parser.next_reply()
        assert len(parser._buf) - parser._pos < 16
    assert reply == items


# -- properties ----------------------------------------------------------------

TOKENS = [
    b"*", b"$", b"%", b"~", b">", b"|", b"=", b"!", b"+", b"-", b":", b"(", b",", b"#", b"_",
    b"\r\n", b"\r", b"0", b"1", b"2", b"-1", b"t", b"inf", b"txt:", b"x",
]  # fmt: skip
reply_noise = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=3), max_size=40).map(b"".join)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def outcome(pieces: Sequence[bytes]) -> tuple[list[Any], bool]:
    """The replies read before the end or a ProtocolError, and whether one was raised."""
    parser = new_parser()
    replies = []
    try:
        for piece in pieces:
            parser.feed(piece)
            while (reply := parser.next_reply()) is not NEED_DATA:
                replies.append(typed(reply))
    except ProtocolError:
        return replies, True
    return replies, False


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=100) | reply_noise, points=st.lists(st.integers(0), max_size=10))
def test_any_bytes_give_replies_or_protocol_error(data: bytes, points: list[int]) -> None:
    """Any bytes give replies or ProtocolError, nothing else, the same whole and cut."""
    assert outcome([data]) == outcome(cut(data, points))


# A status line cannot hold CR or LF (the encoder never gets one: the engine's
# statuses are fixed words), so the strategies leave those bytes out of them.
status_text = st.binary(max_size=8).filter(lambda b: b"\r" not in b and b"\n" not in b)
keys = st.binary(max_size=5) | st.integers(-5, 5) | status_text.map(Status)
scalars = (
    st.binary(max_size=8)
    | status_text.map(Status)
    | st.integers(-(2**63), 2**63 - 1)
    | st.none()
    | st.just(NULL_ARRAY)
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.sampled_from(["ERR x", "WRONGTYPE y"]).map(CommandError)
    | st.binary(max_size=8).map(Verbatim)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(Push)
        | st.dictionaries(keys, inner, max_size=3)
        | st.frozensets(keys, max_size=3)
        | st.lists(st.tuples(keys, inner).map(list), max_size=3).map(Pairs)
    ),
    max_leaves=12,
)


def degraded(value: Any, resp: int) -> Any:
    """What an encoding in `resp` keeps of `value`, as ReplyParser gives it back."""
    if isinstance(value, bool):
        return value if resp == 3 else int(value)
    if isinstance(value, float):
        return value if resp == 3 else format_double(value)
    if value is NULL_ARRAY:
        return None if resp == 3 else NULL_ARRAY
    if isinstance(value, Verbatim):
        return bytes(value)
    if isinstance(value, Push):
        items = [degraded(item, resp) for item in value]
        return Push(items) if resp == 3 else items
    if isinstance(value, Pairs) and resp == 2:
        return [degraded(item, resp) for pair in value for item in pair]
    if isinstance(value, list):
        return [degraded(item, resp) for item in value]
    if isinstance(value, dict):
        pairs = [(degraded(k, resp), degraded(v, resp)) for k, v in value.items()]
        return dict(pairs) if resp == 3 else [item for pair in pairs for item in pair]
    if isinstance(value, frozenset):
        items = [degraded(item, resp) for item in value]
        return set(items) if resp == 3 else items
    return value


@settings(max_examples=300, deadline=None)
@given(value=values, resp=st.sampled_from([2, 3]), points=st.lists(st.integers(0), max_size=8))
def test_encoded_values_parse_back(value: Any, resp: int, points: list[int]) -> None:
    """Any reply value, encoded, parses back to what its encoding keeps, whole and cut."""
    data = encode_reply(value, resp)
    expected = [typed(degraded(value, resp))]
    assert outcome([data]) == (expected, False)
    assert outcome(cut(data, points)) == (expected, False)


# -- hiredis ---------------------------------------------------------------------

PLAIN_READ = b"*2\r\n$6\r\nqueued\r\n_\r\n:3\r\n*0\r\n$0\r\n\r\n"
PLAIN_REPLIES = [[b"queued", None], 3, [], b""]


@pytest.mark.skipif(not HIREDIS, reason="no hiredis")
def test_hiredis_reads_plain_whole_reads() -> None:
    """A whole read of arrays, bulks, integers and nulls is read by hiredis, never buffered."""
    parser = ReplyParser(accelerate=True)
    for _ in range(2):  # the second with the Reader the first left
        parser.feed(PLAIN_READ)
        assert not parser._chunks
        replies = list(iter(parser.next_reply, NEED_DATA))
        assert replies == PLAIN_REPLIES


@pytest.mark.skipif(not HIREDIS, reason="no hiredis")
@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"+OK\r\n", Status(b"OK")),  # hiredis: bytes
        (b":1\r\n+OK\r\n", 1),  # a status after another reply: all read here
        (b"*-1\r\n", NULL_ARRAY),  # hiredis: None
        (b"~1\r\n:1\r\n", {1}),  # hiredis: a list
        (b"(12\r\n", 12),  # hiredis: bytes
        (b"*1\r\n$1\r\nabc\r\n", ProtocolError),  # hiredis skips the bytes after a bulk
        (b"$1\r\naXY:1\r\n", ProtocolError),
    ],
)
def test_hiredis_leaves_what_it_reads_otherwise(data: bytes, value: Any) -> None:
    """Reads that hiredis would read otherwise, or accept where this parser refuses,
    come out as the pure-Python parser reads them."""
    parser = ReplyParser(accelerate=True)
    parser.feed(data)
    if value is ProtocolError:
        with pytest.raises(ProtocolError):
            parser.next_reply()
    else:
        assert typed(parser.next_reply()) == typed(value)


@pytest.mark.skipif(not HIREDIS, reason="no hiredis")
def test_hiredis_reads_what_follows_leading_statuses() -> None:
    """A transaction's read (+OK, +QUEUED..., EXEC's array) gives its statuses as Status,
    read here, and the rest read by hiredis, in order."""
    parser = ReplyParser(accelerate=True)
    parser.feed(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n$1\r\na\r\n" + PLAIN_READ)
    assert not parser._chunks
    replies = list(iter(parser.next_reply, NEED_DATA))
    expected = [Status(b"OK"), Status(b"QUEUED"), Status(b"QUEUED"), [1, b"a"], *PLAIN_REPLIES]
    assert [typed(reply) for reply in replies] == [typed(value) for value in expected]


@pytest.mark.skipif(not HIREDIS, reason="no hiredis")
def test_hiredis_resumes_after_a_partial_read() -> None:
    """A read that ends inside a reply goes to the pure parser, in order; hiredis
    takes over again once a read starts on a reply boundary."""
    parser = ReplyParser(accelerate=True)
    replies = []
    for read in (PLAIN_READ + PLAIN_READ[:7], PLAIN_READ[7:]):
        parser.feed(read)
        replies += iter(parser.next_reply, NEED_DATA)
    parser.feed(PLAIN_READ)
    assert not parser._chunks  # hiredis read it
    replies += iter(parser.next_reply, NEED_DATA)
    assert replies == PLAIN_REPLIES * 3


def test_accelerate_without_hiredis_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking for hiredis where it is not installed is an error that says how to get it."""
    monkeypatch.setattr(replies_module, "HIREDIS", False)
    with pytest.raises(ValueError, match="hiredis"):
        ReplyParser(accelerate=True)
