"""Units for the generic key commands and INFO: what the differential cases cannot see."""

from __future__ import annotations

from collections import deque

import pytest

from queuekit.engine.clock import FakeClock
from queuekit.engine.commands.server import bytes_to_human
from queuekit.engine.engine import Engine
from queuekit.engine.errors import CommandError
from queuekit.engine.memory import value_cost
from queuekit.engine.replies import Blocked, Reply, Verbatim
from queuekit.engine.scan import MAX_SNAPSHOTS, parse_cursor
from queuekit.engine.session import Session
from queuekit.engine.zset import ZSet
from queuekit.resp.encoder import encode_reply
from tests.engine.support import Arg, Client, assert_memory_exact


def scan_all(client: Client, count: int, between: object = None) -> list[bytes]:
    """Every key a full SCAN iteration returns, calling `between()` after each step."""
    seen: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, batch = client("SCAN", cursor, "COUNT", count)
        seen.extend(batch)
        if cursor == b"0":
            return seen
        if callable(between):
            between()


# -- memory -------------------------------------------------------------------


def test_memory_is_exact_across_del_rename_copy_and_flush(client: Client) -> None:
    """used_memory equals the priced sum of every key after each key command."""
    client("SET", "s", "value")
    client("RPUSH", "l", "a", "bb", "ccc")
    client("INCR", "n")
    client("EXPIRE", "l", 100)
    steps: list[tuple[Arg, ...]] = [
        ("COPY", "l", "l2"),
        ("COPY", "s", "l2", "REPLACE"),
        ("RENAME", "l", "a-much-longer-key-name"),
        ("RENAME", "s", "n"),
        ("RENAMENX", "n", "fresh"),
        ("COPY", "fresh", "fresh2"),
        ("DEL", "fresh", "missing"),
        ("UNLINK", "fresh2"),
        ("EXPIRE", "l2", -1),
        ("PERSIST", "a-much-longer-key-name"),
    ]
    for step in steps:
        client(*step)
        assert_memory_exact(client.db)
    client("FLUSHALL")
    assert client.db.used_memory == 0
    assert client("DBSIZE") == 0


def test_memory_is_exact_after_copying_every_type(client: Client) -> None:
    """COPY of a set, a hash and a sorted set prices the copy like the original."""
    zset = ZSet()
    zset.add(b"m", 1.0)
    zset.add(b"n", 2.0)
    client.db.add(b"z", zset)
    client.db.add(b"s", {b"x", b"yy"})
    client.db.add(b"h", {b"f": b"v", b"g": b"ww"})
    for key in ("z", "s", "h"):
        assert client("COPY", key, f"{key}-copy") == 1
    assert_memory_exact(client.db)
    for name in (b"z", b"s", b"h"):
        assert value_cost(client.db.data[name + b"-copy"]) == value_cost(client.db.data[name])


# -- RENAME and COPY --------------------------------------------------------------


def test_rename_moves_the_value_without_copying(client: Client) -> None:
    """RENAME re-keys the very same value object and keeps its deadline."""
    client("RPUSH", "a", "x")
    client("PEXPIRE", "a", 5000)
    original = client.db.data[b"a"]
    assert client("RENAME", "a", "b") == b"OK"
    assert client.db.data[b"b"] is original
    assert client("PTTL", "b") == 5000
    assert b"a" not in client.db.expires


def test_copy_is_deep_for_every_aggregate(client: Client) -> None:
    """A copied list, set, hash or sorted set shares no container with its source."""
    zset = ZSet()
    zset.add(b"m", 1.0)
    client.db.add(b"z", zset)
    client.db.add(b"s", {b"x"})
    client.db.add(b"h", {b"f": b"v"})
    client("RPUSH", "l", "a")
    for key in ("z", "s", "h", "l"):
        client("COPY", key, f"{key}2")
        assert client.db.data[f"{key}2".encode()] is not client.db.data[key.encode()]
    assert isinstance(client.db.data[b"l2"], deque)
    copied = client.db.data[b"z2"]
    assert isinstance(copied, ZSet)
    copied.add(b"extra", 5.0)
    assert len(zset) == 1 and len(copied) == 2
    assert copied.ordered is not zset.ordered


def test_rename_onto_a_blocked_key_serves_the_waiter(client: Client) -> None:
    """A list renamed onto a key with a parked BLPOP wakes that BLPOP at once."""
    waiter = Session()
    blocked = client.engine.execute(waiter, [b"BLPOP", b"dest", b"0"])
    assert isinstance(blocked, Blocked)
    woken: list[Reply] = []
    client.engine.block(blocked, woken.append)
    client("RPUSH", "src", "a", "b")
    client("RENAME", "src", "dest")
    assert woken == [[b"dest", b"a"]]
    assert client("RPOP", "dest") == b"b"


def test_copy_onto_a_blocked_key_serves_the_waiter(client: Client) -> None:
    """COPY makes its destination ready like any new list."""
    blocked = client.engine.execute(Session(), [b"BRPOP", b"dest", b"0"])
    assert isinstance(blocked, Blocked)
    woken: list[Reply] = []
    client.engine.block(blocked, woken.append)
    client("RPUSH", "src", "a")
    client("COPY", "src", "dest")
    assert woken == [[b"dest", b"a"]]
    assert client("EXISTS", "src", "dest") == 1


def test_copy_to_another_db_is_refused(client: Client) -> None:
    """Only db 0 exists, so COPY to db 1..15 answers Redis's out-of-range error."""
    client("SET", "a", "v")
    with pytest.raises(CommandError, match="DB index is out of range"):
        client("COPY", "a", "b", "DB", 1)


# -- SCAN and KEYS ------------------------------------------------------------------


def test_scan_returns_keys_present_throughout_under_churn(client: Client) -> None:
    """Keys that live through a whole SCAN are all returned while others come and go."""
    stable = {f"stable:{i}".encode() for i in range(1000)}
    for key in stable:
        client("SET", key, "v")
    counter = iter(range(10**6))

    def churn() -> None:
        n = next(counter)
        client("SET", f"new:{n}", "v")
        client("SET", f"tmp:{n}", "v")
        client("DEL", f"tmp:{n - 1}", f"new:{n // 2}")

    seen = scan_all(client, 7, churn)
    assert stable <= set(seen)


def test_scan_does_not_return_keys_deleted_before_it_reached_them(client: Client) -> None:
    """A key deleted mid-iteration is skipped, not returned from the stale snapshot."""
    for i in range(100):
        client("SET", f"k{i}", "v")
    cursor, first = client("SCAN", 0, "COUNT", 10)
    remaining = {f"k{i}".encode() for i in range(100)} - set(first)
    doomed = sorted(remaining)[:40]
    client("DEL", *doomed)
    rest: list[bytes] = []
    while cursor != b"0":
        cursor, batch = client("SCAN", cursor, "COUNT", 10)
        rest.extend(batch)
    assert not set(doomed) & set(rest)
    assert set(first) | set(rest) == {f"k{i}".encode() for i in range(100)} - set(doomed)


def test_scan_with_an_evicted_snapshot_still_returns_every_key(client: Client) -> None:
    """A cursor whose snapshot was dropped restarts: duplicates allowed, nothing missed."""
    keys = {f"k{i}".encode() for i in range(50)}
    for key in keys:
        client("SET", key, "v")
    cursor, seen = client("SCAN", 0, "COUNT", 5)
    for _ in range(MAX_SNAPSHOTS + 5):
        assert client("SCAN", 0, "COUNT", 5)[0] != b"0"
    while cursor != b"0":
        cursor, batch = client("SCAN", cursor, "COUNT", 5)
        seen.extend(batch)
    assert set(seen) == keys


def test_scan_type_counts_keyspace_hits_and_keys_does_not(client: Client) -> None:
    """SCAN TYPE looks each candidate up as a read (a hit); KEYS and RANDOMKEY do not."""
    client("MSET", "a", 1, "b", 2)
    client("RPUSH", "l", "x")
    client("KEYS", "*")
    client("RANDOMKEY")
    assert client.db.keyspace_hits == 0
    assert client("SCAN", 0, "TYPE", "list")[1] == [b"l"]
    assert client.db.keyspace_hits == 3


def test_keys_skips_expired_keys_without_reclaiming_them(client: Client) -> None:
    """KEYS hides an expired key but leaves it for DBSIZE to count, as Redis does."""
    client("SET", "a", "v")
    client("SET", "b", "v")
    client("PEXPIRE", "a", 10)
    client.clock.advance(ms=11)
    assert client("KEYS", "*") == [b"b"]
    assert client("KEYS", "?") == [b"b"]
    assert client("DBSIZE") == 2
    assert client("SCAN", 0)[1] == [b"b"]
    assert client("DBSIZE") == 1


def test_parse_cursor_reads_like_strtoul() -> None:
    """Cursors accept what strtoul accepts: "", signs, leading zeros; "-1" wraps."""
    assert parse_cursor(b"") == 0
    assert parse_cursor(b"+7") == 7
    assert parse_cursor(b"-0") == 0
    assert parse_cursor(b"-1") == 2**64 - 1
    assert parse_cursor(b"0" * 5000 + b"12") == 12
    assert parse_cursor(b"18446744073709551615") == 2**64 - 1
    for bad in (b"18446744073709551616", b" 1", b"1 ", b"+", b"-", b"0x1", b"1e3"):
        with pytest.raises(CommandError, match="invalid cursor"):
            parse_cursor(bad)


# -- TTL arithmetic on the fake clock -----------------------------------------------


def test_ttl_rounds_half_up_and_pttl_is_exact(client: Client) -> None:
    """TTL rounds the remaining ms to the nearest second, half up; PTTL is exact."""
    client("SET", "k", "v")
    client("PEXPIRE", "k", 1499)
    assert client("TTL", "k") == 1
    client("PEXPIRE", "k", 1500)
    assert client("TTL", "k") == 2
    client.clock.advance(ms=250)
    assert client("PTTL", "k") == 1250
    assert client("PEXPIRETIME", "k") == client.clock.now_ms() + 1250


def test_expire_in_the_past_is_a_delete_not_an_expiry(client: Client) -> None:
    """EXPIRE with a past time deletes without counting an expired key; lazy expiry counts."""
    client("SET", "a", "v")
    client("SET", "b", "v")
    assert client("EXPIRE", "a", -1) == 1
    assert client.db.expired_keys == 0
    client("PEXPIRE", "b", 5)
    client.clock.advance(ms=6)  # expired once now is past the deadline
    assert client("GET", "b") is None
    assert client.db.expired_keys == 1


def test_expire_gt_lt_compare_absolute_deadlines(client: Client) -> None:
    """GT and LT compare the new deadline with the current one, in ms."""
    client("SET", "k", "v")
    client("PEXPIRE", "k", 1000)
    assert client("PEXPIRE", "k", 1000, "GT") == 0
    assert client("PEXPIRE", "k", 1001, "GT") == 1
    assert client("PEXPIRE", "k", 1001, "LT") == 0
    assert client("PEXPIRE", "k", 999, "LT") == 1
    assert client("PTTL", "k") == 999


# -- server commands --------------------------------------------------------------


def test_time_reads_the_engine_clock(client: Client) -> None:
    """TIME answers the fake clock's seconds and microseconds as bulk strings."""
    client.clock.advance(ms=1234)
    assert client("TIME") == [b"1700000001", b"234000"]


def test_info_sections_layout(client: Client) -> None:
    """INFO writes Redis's layout: sections in Redis's order, blank line between."""
    client("SET", "a", "v")
    client("PEXPIRE", "a", 10_000)
    client("SET", "b", "v")
    client("GET", "b")
    client("GET", "nope")
    reply = client("INFO", "keyspace", "stats")
    assert type(reply) is Verbatim
    processed = client.engine.commands_processed - 1
    assert reply == (
        b"# Stats\r\n"
        b"total_commands_processed:%d\r\n"
        b"expired_keys:0\r\n"
        b"evicted_keys:0\r\n"
        b"keyspace_hits:1\r\n"
        b"keyspace_misses:1\r\n"
        b"\r\n"
        b"# Keyspace\r\n"
        b"db0:keys=2,expires=1,avg_ttl=10000\r\n" % processed
    )
    assert processed == 5


def test_info_memory_reports_the_engine_estimate() -> None:
    """INFO memory reports used_memory, maxmemory and the policy, with human sizes."""
    engine = Engine(FakeClock(), maxmemory=3 * 1024 * 1024, maxmemory_policy="allkeys-lru")
    engine.execute(Session(), [b"SET", b"k", b"v" * 2000])
    text = engine.execute(Session(), [b"INFO", b"memory"]).decode()
    used = engine.db.used_memory
    assert text == (
        "# Memory\r\n"
        f"used_memory:{used}\r\n"
        f"used_memory_human:{used / 1024:.2f}K\r\n"
        "maxmemory:3145728\r\n"
        "maxmemory_human:3.00M\r\n"
        "maxmemory_policy:allkeys-lru\r\n"
    )


def test_info_default_all_and_unknown_sections(client: Client) -> None:
    """No argument, default, all and everything give every section; unknown ones nothing."""
    every = client("INFO")
    assert every.count(b"# ") == 3
    for alias in ("default", "ALL", "everything"):
        assert client("INFO", alias).split(b"# Stats")[0] == every.split(b"# Stats")[0]
    assert client("INFO", "server") == b""
    assert client("INFO", "server", "memory").startswith(b"# Memory\r\n")


def test_info_is_a_verbatim_string_in_resp3(client: Client) -> None:
    """INFO encodes as "=len\\r\\ntxt:..." in RESP3 and a bulk string in RESP2."""
    reply = client("INFO", "keyspace")
    assert encode_reply(reply, 3) == b"=16\r\ntxt:# Keyspace\r\n\r\n"
    assert encode_reply(reply, 2) == b"$12\r\n# Keyspace\r\n\r\n"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1.00K"),
        (1536, "1.50K"),
        (1024**2 - 1, "1024.00K"),
        (1024**2, "1.00M"),
        (5 * 1024**3, "5.00G"),
        (2 * 1024**4, "2.00T"),
        (1024**5, "1.00P"),
        (1024**6, f"{1024**6}B"),
    ],
)
def test_bytes_to_human_matches_redis(size: int, text: str) -> None:
    """Human sizes follow Redis's bytesToHuman, two decimals and a unit letter."""
    assert bytes_to_human(size) == text
