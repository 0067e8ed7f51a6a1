"""Units for the string commands: memory, deadlines, limits, the INCR fast path."""

from __future__ import annotations

import pytest

from queuekit.engine.args import INT64_MAX
from queuekit.engine.commands import strings
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, OK
from queuekit.engine.session import Session
from tests.engine.support import Arg, Client, assert_memory_exact


def test_used_memory_stays_exact(client: Client) -> None:
    """After every string command, used_memory equals the sum of key and value costs."""
    steps: list[tuple[Arg, ...]] = [
        ("SET", "a", "hello"),
        ("APPEND", "a", " world"),
        ("SET", "n", "41"),
        ("INCR", "n"),
        ("INCR", "n"),
        ("APPEND", "n", "7"),
        ("INCRBYFLOAT", "n", "0.5"),
        ("INCRBY", "fresh", "3"),
        ("DECRBY", "fresh", "30"),
        ("INCRBYFLOAT", "f", "1e400"),
        ("SETRANGE", "a", "20", "xyz"),
        ("SETRANGE", "r", "3", "abc"),
        ("SETRANGE", "r", "0", ""),
        ("GETSET", "a", "short"),
        ("MSET", "m1", "1", "m2", "22", "a", "again"),
        ("MSETNX", "m3", "3", "m4", "4"),
        ("MSETNX", "m3", "x", "m5", "5"),
        ("GETDEL", "m1"),
        ("SET", "e", "v", "PX", "100"),
        ("SETEX", "s", "10", "value"),
        ("SET", "fresh", "word", "GET", "KEEPTTL"),
        ("GETEX", "s", "EXAT", "1"),
        ("SETNX", "nx", "value"),
        ("APPEND", "new", ""),
    ]
    for step in steps:
        client(*step)
        assert_memory_exact(client.db)
    client.clock.advance(ms=200)
    assert client("GET", "e") is None
    assert_memory_exact(client.db)


def test_counters_are_ints_and_set_stores_bytes(client: Client) -> None:
    """The INCR family keeps an int; SET, APPEND and SETRANGE leave bytes."""
    client("SET", "k", "10")
    assert client.db.data[b"k"] == b"10"
    assert client("INCR", "k") == 11
    assert client.db.data[b"k"] == 11
    assert client("SET", "k", "5", "GET") == b"11"
    assert client.db.data[b"k"] == b"5"
    client("INCR", "k")
    assert client("APPEND", "k", "0") == 2
    assert client.db.data[b"k"] == b"60"
    client("INCR", "k")
    assert client("SETRANGE", "k", "0", "7") == 2
    assert client.db.data[b"k"] == b"71"


def test_expiry_options_become_exact_deadlines(client: Client) -> None:
    """EX and PX count from the clock; EXAT and PXAT are absolute."""
    now = client.clock.now_ms()
    client("SET", "ex", "v", "EX", "10")
    client("SET", "px", "v", "PX", "1500")
    client("SET", "exat", "v", "EXAT", "4102444800")
    client("SET", "pxat", "v", "PXAT", "4102444800123")
    client("SETEX", "setex", "3", "v")
    client("PSETEX", "psetex", "7", "v")
    assert client.db.expires == {
        b"ex": now + 10_000,
        b"px": now + 1500,
        b"exat": 4102444800_000,
        b"pxat": 4102444800123,
        b"setex": now + 3000,
        b"psetex": now + 7,
    }


def test_key_expires_at_its_deadline(client: Client) -> None:
    """A key set with PX lives through its deadline and is gone one millisecond later."""
    client("SET", "k", "v", "PX", "100")
    client.clock.advance(ms=100)
    assert client("GET", "k") == b"v"
    client.clock.advance(ms=1)
    assert client("GET", "k") is None
    assert b"k" not in client.db.data


def test_set_with_a_past_deadline_keeps_the_key_until_read(client: Client) -> None:
    """SET ... EXAT in the past stores a dead key, as Redis does; its next lookup removes it."""
    client("SET", "k", "v", "EXAT", "1")
    assert b"k" in client.db.data
    assert client("DBSIZE") == 1
    assert client("GET", "k") is None
    assert b"k" not in client.db.data
    assert b"k" not in client.db.expires
    assert_memory_exact(client.db)


def test_relative_expiry_overflow_boundary(client: Client) -> None:
    """PX is refused exactly when now + milliseconds passes the largest int64."""
    room = INT64_MAX - client.clock.now_ms()
    assert client("SET", "k", "v", "PX", str(room)) == OK
    with pytest.raises(CommandError, match="invalid expire time in 'set' command"):
        client("SET", "k", "v", "PX", str(room + 1))
    with pytest.raises(CommandError, match="invalid expire time in 'psetex' command"):
        client("PSETEX", "k", str(room + 1), "v")


def test_in_place_changes_keep_the_ttl(client: Client) -> None:
    """APPEND, SETRANGE, INCR and INCRBYFLOAT keep the deadline; SET and GETSET drop it."""
    for command in (
        ("APPEND", "k", "1"),
        ("SETRANGE", "k", "0", "2"),
        ("INCR", "k"),
        ("INCRBYFLOAT", "k", "1.5"),
        ("SET", "k", "3", "KEEPTTL"),
    ):
        client("SET", "k", "1", "EX", "100")
        deadline = client.db.expires[b"k"]
        client.clock.advance(ms=5)
        client(*command)
        assert client.db.expires[b"k"] == deadline, command
    for command in (("SET", "k", "4"), ("GETSET", "k", "5"), ("MSET", "k", "6")):
        client("SET", "k", "1", "EX", "100")
        client(*command)
        assert b"k" not in client.db.expires, command


def test_getex_changes_deadlines(client: Client) -> None:
    """GETEX sets a deadline, removes it, or (with PXAT now or earlier) deletes the key."""
    client("SET", "k", "v")
    assert client("GETEX", "k", "PX", "250") == b"v"
    assert client.db.expires[b"k"] == client.clock.now_ms() + 250
    assert client("GETEX", "k", "PERSIST") == b"v"
    assert b"k" not in client.db.expires
    assert client("GETEX", "k", "PXAT", str(client.clock.now_ms())) == b"v"
    assert b"k" not in client.db.data
    assert_memory_exact(client.db)


def test_watch_sees_incr_of_a_counter(client: Client) -> None:
    """INCR's fast path on an existing counter still dooms a WATCHing transaction."""
    client("SET", "k", "1")
    client("INCR", "k")  # now an int counter: the next INCR takes the fast path
    client("WATCH", "k")
    client("INCR", "k", session=Session())
    client("MULTI")
    client("GET", "k")
    assert client("EXEC") is NULL_ARRAY


def test_string_length_limit(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """APPEND and SETRANGE refuse to grow a string past the limit and change nothing."""
    monkeypatch.setattr(strings, "MAX_STRING_BYTES", 10)
    client("SET", "k", "12345")
    assert client("APPEND", "k", "67890") == 10
    with pytest.raises(CommandError, match="proto-max-bulk-len"):
        client("APPEND", "k", "x")
    with pytest.raises(CommandError, match="proto-max-bulk-len"):
        client("SETRANGE", "k", "10", "x")
    with pytest.raises(CommandError, match="proto-max-bulk-len"):
        client("SETRANGE", "new", "9", "xy")
    assert client("SETRANGE", "k", "9", "x") == 10
    assert client("GET", "k") == b"123456789x"
    assert client("EXISTS", "new") == 0


def test_large_setrange_pads_and_prices(client: Client) -> None:
    """SETRANGE far past the end pads with zero bytes and prices every byte."""
    assert client("SETRANGE", "k", "1000000", "end") == 1_000_003
    value = client("GET", "k")
    assert value[:1_000_000] == bytes(1_000_000)
    assert value.endswith(b"end")
    assert_memory_exact(client.db)


def test_msetnx_sets_nothing_when_one_key_exists(client: Client) -> None:
    """MSETNX is all or nothing, even when the existing key is not a string."""
    client("RPUSH", "l", "x")
    assert client("MSETNX", "a", "1", "l", "2", "b", "3") == 0
    assert client("MGET", "a", "b") == [None, None]


def test_reads_count_hits_and_misses(client: Client) -> None:
    """Read lookups count keyspace hits and misses, write lookups do not, as in Redis 7.0."""
    expected = [  # (hits, misses) after each command, as redis-server reports them
        (("SET", "a", "1"), (0, 0)),
        (("GET", "a"), (1, 0)),
        (("MGET", "a", "missing"), (2, 1)),
        (("INCR", "other"), (2, 1)),
        (("STRLEN", "a"), (3, 1)),
        (("GETRANGE", "a", "0", "1"), (4, 1)),
        (("GETEX", "a"), (5, 1)),
        (("SET", "a", "2", "GET"), (6, 1)),
        (("GETSET", "a", "3"), (7, 1)),
        (("GETDEL", "a"), (8, 1)),
        (("APPEND", "x", "y"), (8, 1)),
        (("SETRANGE", "x", "0", "z"), (8, 1)),
        (("INCRBYFLOAT", "x2", "1"), (8, 1)),
        (("SETNX", "x", "1"), (8, 1)),
        (("MSETNX", "q", "1"), (8, 1)),
        (("SET", "x", "1", "NX"), (8, 1)),
        (("GETDEL", "nope"), (8, 2)),
        (("STRLEN", "nope"), (8, 3)),
    ]
    for command, counts in expected:
        client(*command)
        assert (client.db.keyspace_hits, client.db.keyspace_misses) == counts, command
