"""The msgpack envelope: round trips, clear errors for bad input, never pickle."""

from __future__ import annotations

import datetime

import msgpack  # type: ignore[import-untyped]
import pytest

from queuekit.errors import MalformedPayloadError, PayloadTooLargeError
from queuekit.jobs.envelope import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    Envelope,
    decode,
    decode_result,
    encode,
    encode_result,
    id_prefix,
)


def sample(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "id": "j1",
        "task": "mail.send",
        "args": (1, "two", [3]),
        "kwargs": {"subject": "hi", "data": b"\x00"},
        "queue": "mail",
        "enqueued_at": 1_700_000_000_000,
        "attempt": 2,
        "options": {"retries": 3},
    }
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


def test_an_envelope_round_trips() -> None:
    """decode(encode(e)) gives e back, tuples in arguments as lists."""
    envelope = sample()
    assert decode(encode(envelope)) == sample(args=(1, "two", [3]))


def test_the_payload_starts_with_the_id_prefix() -> None:
    """id_prefix(job_id) recognises a job's payload without decoding it."""
    assert encode(sample(id="abc")).startswith(id_prefix("abc"))
    assert not encode(sample(id="abcd")).startswith(id_prefix("abc") + b"\xa1")


def test_the_keys_are_compact() -> None:
    """The map's keys are one letter each."""
    assert set(msgpack.unpackb(encode(sample()))) == set("itakqeno")


def test_an_oversize_payload_names_its_size_and_the_limit() -> None:
    """A payload over the limit raises PayloadTooLargeError with both numbers."""
    envelope = sample(args=("x" * DEFAULT_MAX_PAYLOAD_BYTES,))
    with pytest.raises(PayloadTooLargeError, match=r"is \d+ bytes, over the limit of 1048576"):
        encode(envelope)
    with pytest.raises(PayloadTooLargeError, match="limit of 100 bytes"):
        encode(sample(args=("x" * 200,)), max_bytes=100)


def test_an_unencodable_positional_argument_is_named() -> None:
    """TypeError names the positional index and the type."""
    with pytest.raises(TypeError, match=r"positional argument 1 .*\bset\b"):
        encode(sample(args=(1, {1, 2})))


def test_an_unencodable_keyword_argument_is_named() -> None:
    """TypeError names the keyword and the type."""
    with pytest.raises(TypeError, match=r"keyword argument 'when' .*datetime"):
        encode(sample(kwargs={"when": datetime.datetime.now()}))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never used in msgpack
        b"\x93\x01\x02",  # truncated array
        msgpack.packb([1, 2, 3]),
        msgpack.packb({"i": "x"}),
        msgpack.packb({**msgpack.unpackb(encode(sample())), "e": "soon"}),
        msgpack.packb({**msgpack.unpackb(encode(sample())), "k": {1: 2}}, strict_types=False),
        encode(sample()) + b"\x00",  # trailing bytes
    ],
)
def test_malformed_bytes_raise_malformed_payload_error(data: bytes) -> None:
    """Anything that is not an envelope raises MalformedPayloadError, nothing else."""
    with pytest.raises(MalformedPayloadError):
        decode(data)


def test_results_round_trip() -> None:
    """A result is (True, value) or (False, error text)."""
    assert decode_result(encode_result(True, {"n": 1})) == (True, {"n": 1})
    assert decode_result(encode_result(False, error="ValueError: bad")) == (
        False,
        "ValueError: bad",
    )


@pytest.mark.parametrize("data", [b"\xc1", msgpack.packb({"ok": 1}), msgpack.packb({"ok": False})])
def test_malformed_results_raise_malformed_payload_error(data: bytes) -> None:
    """Bytes that are not a result raise MalformedPayloadError."""
    with pytest.raises(MalformedPayloadError):
        decode_result(data)


def test_an_unencodable_return_value_is_a_type_error() -> None:
    """A task result msgpack cannot encode raises TypeError naming its type."""
    with pytest.raises(TypeError, match="object is not msgpack data"):
        encode_result(True, object())
