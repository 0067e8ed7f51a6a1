"""Units for the hash commands: memory, HRANDFIELD randomness, HSCAN under change, TTLs."""

from __future__ import annotations

import random

import pytest

from queuekit.engine.errors import CommandError
from queuekit.engine.replies import Pairs
from queuekit.engine.sampling import COPY_MAX
from queuekit.engine.scan import WHOLE_REPLY_MAX_ELEMENTS
from queuekit.resp.encoder import encode_reply
from tests.engine.support import Arg, Client, assert_memory_exact

LARGE = COPY_MAX * 2  # fields: large enough for the sampler's pools


def field_values(count: int, prefix: str = "f") -> list[str]:
    """HSET arguments for `count` fields: f0 v0 f1 v1 ..."""
    return [part for n in range(count) for part in (f"{prefix}{n}", f"v{n}")]


def test_used_memory_stays_exact(client: Client) -> None:
    """After every hash command, used_memory equals the sum of key and value costs."""
    steps: list[tuple[Arg, ...]] = [
        ("HSET", "h", "a", "1", "b", "22"),
        ("HSET", "h", "a", "a much longer value", "c", "3"),
        ("HSET", "h", "a", "s"),
        ("HSET", "h", "a", "1", "a", "12345"),
        ("HMSET", "h", "d", "4", "b", ""),
        ("HSETNX", "h", "d", "ignored"),
        ("HSETNX", "h", "e", "5"),
        ("HSETNX", "new", "f", "v"),
        ("HINCRBY", "h", "c", "9"),
        ("HINCRBY", "h", "c", "-1000"),
        ("HINCRBY", "h", "n", "7"),
        ("HINCRBY", "fresh", "n", "-1"),
        ("HINCRBYFLOAT", "h", "n", "0.125"),
        ("HINCRBYFLOAT", "h", "z", "1e300"),
        ("HINCRBYFLOAT", "h", "z", "-1e300"),
        ("HDEL", "h", "a", "missing", "b"),
        ("HDEL", "new", "f"),
        ("HDEL", "fresh", "n"),
        ("HSET", "h", *field_values(300)),
        ("HDEL", "h", *[f"f{n}" for n in range(0, 300, 3)]),
    ]
    for step in steps:
        client(*step)
        assert_memory_exact(client.db)
    client("HDEL", "h", *list(client("HKEYS", "h")))
    assert client.db.data == {}
    assert client.db.used_memory == 0


def test_failed_writes_change_nothing(client: Client) -> None:
    """A refused HINCRBY, HINCRBYFLOAT or odd HSET creates no key and moves no byte."""
    for step in (
        ("HSET", "h", "a"),
        ("HINCRBY", "h", "n", "x"),
        ("HINCRBYFLOAT", "h", "n", "inf"),
        ("HINCRBYFLOAT", "h", "n", "nan"),
    ):
        with pytest.raises(CommandError):
            client(*step)
    assert client.db.data == {} and client.db.used_memory == 0
    client("HSET", "h", "s", "text")
    before = client.db.used_memory
    with pytest.raises(CommandError, match="not an integer"):
        client("HINCRBY", "h", "s", "1")
    with pytest.raises(CommandError, match="not a float"):
        client("HINCRBYFLOAT", "h", "s", "1")
    assert client.db.used_memory == before
    assert client("HGETALL", "h") == {b"s": b"text"}


def test_hincrby_stores_decimal_text(client: Client) -> None:
    """Counters live as text in the hash, as HGET and HSTRLEN show them."""
    client("HINCRBY", "h", "n", "-42")
    assert client.db.data[b"h"] == {b"n": b"-42"}
    assert client("HSTRLEN", "h", "n") == 3
    assert client("HINCRBYFLOAT", "h", "n", "0.5") == b"-41.5"


def test_hrandfield_reaches_every_field(client: Client) -> None:
    """Repeated HRANDFIELD on a small hash returns each field at least once."""
    client("HSET", "h", *field_values(20))
    seen = {client("HRANDFIELD", "h") for _ in range(2000)}
    assert seen == {f"f{n}".encode() for n in range(20)}


def test_hrandfield_reaches_every_field_of_a_large_hash(client: Client) -> None:
    """The pooled sampler of a large hash still returns every field."""
    client("HSET", "h", *field_values(LARGE))
    seen: set[bytes] = set()
    for _ in range(200):
        seen.update(client("HRANDFIELD", "h", "-200"))
    assert seen == {f"f{n}".encode() for n in range(LARGE)}


def test_hrandfield_counts(client: Client) -> None:
    """A positive count gives distinct fields, a negative one exactly |count| with repeats."""
    client("HSET", "h", "a", "1", "b", "2", "c", "3")
    repeated = client("HRANDFIELD", "h", "-40")
    assert len(repeated) == 40 and set(repeated) == {b"a", b"b", b"c"}
    distinct = client("HRANDFIELD", "h", "2")
    assert len(set(distinct)) == 2
    client("HSET", "big", *field_values(LARGE))
    for count in (1, 7, LARGE // 4, LARGE - 1):
        picked = client("HRANDFIELD", "big", count)
        assert len(picked) == count == len(set(picked))


def test_hrandfield_withvalues_pairs_match(client: Client) -> None:
    """WITHVALUES pairs each field with its own value, nested in RESP3 and flat in RESP2."""
    client("HSET", "h", *field_values(LARGE))
    for count in ("5", "-300", "1", str(LARGE)):
        pairs = client("HRANDFIELD", "h", count, "WITHVALUES")
        assert isinstance(pairs, Pairs) and len(pairs) == abs(int(count))
        for field, value in pairs:
            assert value == b"v" + field[1:]
    small = Pairs([[b"f", b"v"]])
    assert encode_reply(small, 3) == b"*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    assert encode_reply(small, 2) == b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"


def test_hgetall_is_a_map_and_a_copy(client: Client) -> None:
    """HGETALL answers a map in RESP3 and a reply unaffected by later writes."""
    client("HSET", "h", "a", "1")
    reply = client("HGETALL", "h")
    client("HSET", "h", "b", "2")
    assert reply == {b"a": b"1"}
    assert encode_reply(reply, 3).startswith(b"%1\r\n")
    assert encode_reply(reply, 2).startswith(b"*2\r\n")


def test_expired_hash_is_gone(client: Client) -> None:
    """A hash past its deadline is invisible, frees its memory, and HSET starts afresh."""
    client("HSET", "h", "a", "1")
    client("PEXPIRE", "h", "100")
    client("HSET", "h", "b", "2")
    assert client.db.expires[b"h"] == client.clock.now_ms() + 100
    client.clock.advance(ms=101)
    assert client("HGET", "h", "a") is None
    assert client.db.used_memory == 0
    assert client("HSET", "h", "c", "3") == 1
    assert b"h" not in client.db.expires


def test_reads_count_keyspace_hits_and_misses(client: Client) -> None:
    """Read commands count a hit or a miss; writes do not."""
    db = client.db
    client("HSET", "h", "a", "1")
    client("HINCRBY", "h", "n", "1")
    assert (db.keyspace_hits, db.keyspace_misses) == (0, 0)
    client("HGET", "h", "a")
    client("HLEN", "missing")
    client("HRANDFIELD", "h", "2")
    assert (db.keyspace_hits, db.keyspace_misses) == (2, 1)


def hscan_to_end(client: Client, churn: list[str]) -> dict[bytes, bytes]:
    """HSCAN to the end, deleting and adding churn fields between calls."""
    seen: dict[bytes, bytes] = {}
    rng = random.Random(11)
    cursor, rounds = b"0", 0
    while True:
        cursor, flat = client("HSCAN", "h", cursor, "COUNT", "100")
        for field, value in zip(flat[0::2], flat[1::2], strict=True):
            assert field not in seen
            seen[field] = value
        rounds += 1
        client("HDEL", "h", *rng.sample(churn, 20))
        client("HSET", "h", *field_values(20, prefix=f"new{rounds}-"))
        if cursor == b"0":
            return seen


def test_hscan_visits_every_field_present_throughout(client: Client) -> None:
    """HSCAN over 10,000 fields returns each field present for the whole scan, with its value."""
    client("HSET", "h", *field_values(9000, prefix="s"))
    churn = [f"c{n}" for n in range(1000)]
    client("HSET", "h", *[part for name in churn for part in (name, "x")])
    seen = hscan_to_end(client, churn)
    for n in range(9000):
        assert seen[f"s{n}".encode()] == f"v{n}".encode()


def test_hscan_sees_current_values(client: Client) -> None:
    """A field changed before its batch is reached comes back with its new value."""
    client("HSET", "h", *field_values(1000))
    cursor, _ = client("HSCAN", "h", "0", "COUNT", "10")
    client("HSET", "h", *[part for n in range(1000) for part in (f"f{n}", "changed")])
    while cursor != b"0":
        cursor, flat = client("HSCAN", "h", cursor, "COUNT", "100")
        assert set(flat[1::2]) == {b"changed"}


def test_hscan_small_hash_is_whole_and_match_filters_fields(client: Client) -> None:
    """A small hash comes back whole with cursor 0; MATCH looks at fields, not values."""
    client("HSET", "h", *field_values(WHOLE_REPLY_MAX_ELEMENTS))
    cursor, flat = client("HSCAN", "h", "0", "COUNT", "1")
    assert cursor == b"0" and len(flat) == 2 * WHOLE_REPLY_MAX_ELEMENTS
    client("HSET", "m", "key", "match-me", "match-me", "v")
    assert client("HSCAN", "m", "0", "MATCH", "match*") == [b"0", [b"match-me", b"v"]]
