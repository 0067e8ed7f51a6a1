"""The encoder: engine reply values to Redis 7.0's exact RESP2 and RESP3 bytes, and commands."""

from __future__ import annotations

import pytest

from queuekit.resp.encoder import encode_command, encode_commands, encode_reply, format_double
from tests.resp.reply_cases import REPLY_CASES, ReplyCase
from tests.support import wire

IDS = [case.name for case in REPLY_CASES]


@pytest.mark.parametrize("case", REPLY_CASES, ids=IDS)
def test_resp2_bytes(case: ReplyCase) -> None:
    """Each value encodes in RESP2 to the bytes Redis 7.0 writes."""
    assert encode_reply(case.value, 2) == case.resp2


@pytest.mark.parametrize("case", REPLY_CASES, ids=IDS)
def test_resp3_bytes(case: ReplyCase) -> None:
    """Each value encodes in RESP3 to the bytes Redis 7.0 writes."""
    assert encode_reply(case.value, 3) == case.resp3


@pytest.mark.parametrize("case", REPLY_CASES, ids=IDS)
@pytest.mark.parametrize("resp", [2, 3])
def test_bytes_are_one_reply(case: ReplyCase, resp: int) -> None:
    """The test suite's own naive reader finds exactly one reply in each encoding."""
    wire.parse(case.wire(resp))


def test_resp2_is_the_default() -> None:
    """encode_reply writes RESP2 unless told otherwise."""
    assert encode_reply(None) == b"$-1\r\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.5, b"1.5"),
        (0.1, b"0.10000000000000001"),
        (-0.0, b"-0"),
        (1e300, b"1.0000000000000001e+300"),
        (1e-300, b"1e-300"),
        (123456789012345678.0, b"1.2345678901234568e+17"),
        (float("inf"), b"inf"),
        (float("-inf"), b"-inf"),
    ],
)
def test_format_double(value: float, text: bytes) -> None:
    """Doubles are written as C's "%.17g" writes them, with inf spelled out."""
    assert format_double(value) == text


@pytest.mark.parametrize(
    ("argv", "data"),
    [
        ([b"PING"], b"*1\r\n$4\r\nPING\r\n"),
        ([b"SET", b"k", b""], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"),
        ([b"ECHO", b"a\r\nb\0"], b"*2\r\n$4\r\nECHO\r\n$5\r\na\r\nb\0\r\n"),
        ([], b"*0\r\n"),
    ],
)
def test_encode_command(argv: list[bytes], data: bytes) -> None:
    """A command is an array of bulk strings."""
    assert encode_command(argv) == data


@pytest.mark.parametrize("size", [0, 1, 9, 10, 511, 512, 513, 100_000])
@pytest.mark.parametrize("count", [1, 63, 64, 65, 1000])
def test_encode_commands_on_both_sides_of_the_header_tables(size: int, count: int) -> None:
    """Short headers come from tables, longer ones are formatted: the bytes agree."""
    argv = [b"x" * size] * count
    expected = b"*%d\r\n" % count + b"$%d\r\n%s\r\n" % (size, b"x" * size) * count
    assert encode_command(argv) == expected
    assert encode_commands([argv, [b"PING"], argv]) == expected + b"*1\r\n$4\r\nPING\r\n" + expected


def test_unknown_value_is_refused() -> None:
    """A value outside the reply vocabulary is a TypeError, not garbage on the wire."""
    with pytest.raises(TypeError, match="cannot encode"):
        encode_reply(object())
    with pytest.raises(TypeError, match="cannot encode"):
        encode_reply([1, "text"], 3)
