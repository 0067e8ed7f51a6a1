"""Units for the sorted sets: what the differential cases cannot see.

Memory accounting, the listpack-like `compact` state, parsing corners, the
blocking pops on a fake clock, and a 100,000-member set checked against a
sorted Python list, with its sorted list guarded so that a command that walks
more of the set than it answers with fails the test.
"""

from __future__ import annotations

import bisect
import random
from typing import Any

import pytest
from sortedcontainers import SortedList

from queuekit.engine.errors import CommandError
from queuekit.engine.memory import zset_member_cost
from queuekit.engine.replies import NULL_ARRAY, Blocked, Pairs
from queuekit.engine.zset import (
    COMPACT_MAX_ENTRIES,
    ZSet,
    parse_lex_range,
    parse_score_bound,
    score_text,
)
from tests.engine.support import START_MS, Client, assert_memory_exact

BIG = 100_000


# -- memory -------------------------------------------------------------------------


def test_memory_is_exact_after_every_sorted_set_command(client: Client) -> None:
    """used_memory equals the priced sum of every key after each write, down to zero."""
    steps: list[tuple[str | int, ...]] = [
        ("ZADD", "z", 1, "a", 2, "bb", 3, "ccc"),
        ("ZADD", "z", "CH", 5, "a", 6, "dddd"),
        ("ZADD", "z", "XX", 7, "nope"),
        ("ZADD", "z", "INCR", 1, "a"),
        ("ZINCRBY", "z", 2, "fresh"),
        ("ZINCRBY", "y", 2, "m" * 100),
        ("ZREM", "z", "a", "missing"),
        ("ZPOPMIN", "z"),
        ("ZPOPMAX", "z", 2),
        ("ZADD", "z", *[part for i in range(200) for part in (i, f"member-{i}")]),
        ("ZREMRANGEBYRANK", "z", 10, 19),
        ("ZREMRANGEBYSCORE", "z", "(50", 100),
        ("ZREMRANGEBYLEX", "z", "-", "+"),
        ("ZRANGESTORE", "copy", "z", 0, 150),
        ("ZRANGESTORE", "copy", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 3, 4),
        ("ZRANGESTORE", "y", "z", 0, 0),
        ("ZRANGESTORE", "copy", "missing", 0, -1),
        ("ZMPOP", 2, "missing", "z", "MIN", "COUNT", 5),
        ("BZPOPMAX", "z", 0),
        ("ZREMRANGEBYRANK", "z", 0, -1),
        ("ZPOPMIN", "y", 10),
    ]
    for step in steps:
        client(*step)
        assert_memory_exact(client.db)
    assert client.db.data == {}
    assert client.db.used_memory == 0


def test_each_member_is_priced_once(client: Client) -> None:
    """A member costs zset_member_cost when added and back when removed; a move costs nothing."""
    client("ZADD", "z", 1, "a")
    before = client.db.used_memory
    client("ZADD", "z", 2, "member")
    assert client.db.used_memory - before == zset_member_cost(b"member")
    client("ZADD", "z", 9, "member")
    client("ZINCRBY", "z", 1, "member")
    assert client.db.used_memory - before == zset_member_cost(b"member")
    client("ZREM", "z", "member")
    assert client.db.used_memory == before


# -- the compact (listpack) state ---------------------------------------------------------


def test_a_set_stops_being_compact_at_its_129th_member() -> None:
    """Past 128 members, or with a member over 64 bytes, the set converts for good."""
    zs = ZSet()
    for index in range(COMPACT_MAX_ENTRIES):
        zs.add(b"m%d" % index, float(index))
    assert zs.compact
    zs.add(b"one-more", 0.0)
    assert not zs.compact
    zs.remove(b"one-more")
    assert not zs.compact  # Redis 7.0 never converts back
    long_member = ZSet()
    long_member.add(b"x" * 65, 1.0)
    assert not long_member.compact


def test_compact_sets_store_negative_zero_as_zero() -> None:
    """A listpack keeps "-0" as 0; a converted set keeps the sign of a new -0.0."""
    zs = ZSet()
    zs.add(b"a", -0.0)
    assert str(zs.score(b"a")) == "0.0"
    big = ZSet(compact=False)
    big.add(b"a", -0.0)
    assert str(big.score(b"a")) == "-0.0"
    assert ZSet.for_first_member(b"x" * 65).compact is False


def test_copy_keeps_the_encoding() -> None:
    """COPY of a converted set is a converted set, as Redis's zsetDup keeps it."""
    zs = ZSet(compact=False)
    zs.add(b"a", 1.0)
    assert zs.copy().compact is False
    assert ZSet().copy().compact is True


def test_zscan_text_follows_the_encoding() -> None:
    """A listpack prints integral scores within 2**62 as integers; a skip list uses %.17g."""
    assert score_text(123456789012345678.0, compact=True) == b"123456789012345680"
    assert score_text(123456789012345678.0, compact=False) == b"1.2345678901234568e+17"
    assert score_text(2.0**62, compact=True) == b"4611686018427387904"
    assert score_text(2.0**63, compact=True) == b"9.2233720368547758e+18"
    assert score_text(float("-inf"), compact=True) == b"-inf"
    assert score_text(-0.0, compact=False) == b"-0"


# -- parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"1", (1.0, False)),
        (b"(1.5", (1.5, True)),
        (b" 2", (2.0, False)),
        (b"", (0.0, False)),
        (b"(", (0.0, True)),
        (b"0x10", (16.0, False)),
        (b"1e400", (float("inf"), False)),
        (b"1e-400", (0.0, False)),
        (b"-Infinity", (float("-inf"), False)),
    ],
)
def test_score_bounds_take_what_strtod_takes(raw: bytes, expected: tuple[float, bool]) -> None:
    """A score bound accepts strtod's leading spaces, empty text, hex and overflow."""
    assert parse_score_bound(raw) == expected


@pytest.mark.parametrize("raw", [b"1 ", b"nan", b"(nan", b"((1", b"[1", b"  ", b"1_0", b"x"])
def test_score_bounds_refuse_nan_and_junk(raw: bytes) -> None:
    """NaN, trailing junk and only-spaces are "min or max is not a float"."""
    with pytest.raises(CommandError, match="min or max is not a float"):
        parse_score_bound(raw)


def test_lex_range_emptiness_follows_redis() -> None:
    """ "-" to "-" and "[a" to "(a" are empty; "[a" to "[a" is not."""
    assert parse_lex_range(b"-", b"-").is_empty()
    assert parse_lex_range(b"+", b"+").is_empty()
    assert parse_lex_range(b"[a", b"(a").is_empty()
    assert not parse_lex_range(b"[a", b"[a").is_empty()
    assert not parse_lex_range(b"-", b"+").is_empty()


# -- reply shapes ---------------------------------------------------------------------


def test_reply_shapes(client: Client) -> None:
    """WITHSCORES, counted pops and ZRANDMEMBER WITHSCORES are Pairs; ZMPOP nests plain lists."""
    client("ZADD", "z", 1, "a", 2, "b", 3, "c", 4, "d")
    assert type(client("ZRANGE", "z", 0, -1, "WITHSCORES")) is Pairs
    assert type(client("ZRANGE", "z", 0, -1)) is list
    assert client("ZPOPMIN", "z") == [b"a", 1.0]
    popped = client("ZPOPMIN", "z", 1)
    assert type(popped) is Pairs and popped == [[b"b", 2.0]]
    assert type(client("ZRANDMEMBER", "z", 2, "WITHSCORES")) is Pairs
    assert client("ZMPOP", 1, "z", "MAX") == [b"z", [[b"d", 4.0]]]
    assert client("ZMPOP", 1, "z", "MAX") == [b"z", [[b"c", 3.0]]]
    assert client("ZMPOP", 1, "z", "MAX") is NULL_ARRAY


# -- blocking -------------------------------------------------------------------------


def test_bzpopmin_blocks_until_its_deadline(client: Client) -> None:
    """BZPOPMIN on empty keys is Blocked on them, with the deadline read off the clock."""
    blocked = client("BZPOPMIN", "a", "b", "1.5")
    assert type(blocked) is Blocked
    assert list(blocked.keys) == [b"a", b"b"]
    assert blocked.deadline_ms == START_MS + 1500
    assert blocked.timeout_reply is NULL_ARRAY
    forever = client("BZMPOP", 0, 2, "a", "b", "MIN")
    assert type(forever) is Blocked and forever.deadline_ms is None
    assert list(forever.keys) == [b"a", b"b"]


def test_a_write_serves_parked_zset_pops_in_order(client: Client) -> None:
    """ZADD serves the parked pops first come first served, each from the key that got data."""
    woken: list[tuple[str, Any]] = []
    for name, argv in [
        ("min", ("BZPOPMIN", "x", "q", 0)),
        ("mpop", ("BZMPOP", 0, 2, "x", "q", "MAX", "COUNT", 2)),
        ("max", ("BZPOPMAX", "q", 0)),
    ]:
        blocked = client(*argv)
        assert type(blocked) is Blocked
        client.engine.block(blocked, lambda reply, name=name: woken.append((name, reply)))
    client("ZADD", "q", 1, "a", 2, "b", 3, "c")
    assert woken == [
        ("min", [b"q", b"a", 1.0]),
        ("mpop", [b"q", [[b"c", 3.0], [b"b", 2.0]]]),
    ]
    assert b"q" not in client.db.data
    client("ZADD", "q", 7, "z")
    assert woken[-1] == ("max", [b"q", b"z", 7.0])
    assert client.db.waiting == {}
    assert_memory_exact(client.db)


# -- random members -------------------------------------------------------------------


def test_zrandmember_picks_are_members(client: Client) -> None:
    """Distinct picks are distinct members; negative counts repeat; scores match."""
    client("ZADD", "z", *[part for i in range(500) for part in (i, f"m{i}")])
    picked = client("ZRANDMEMBER", "z", 50)
    assert len(set(picked)) == 50 and all(m.startswith(b"m") for m in picked)
    repeats = client("ZRANDMEMBER", "z", -2000)
    assert len(repeats) == 2000 and len(set(repeats)) < 500
    for member, score in client("ZRANDMEMBER", "z", -20, "WITHSCORES"):
        assert float(member[1:]) == score
    assert client("ZRANDMEMBER", "z", 500)[:2] == [b"m499", b"m498"]


# -- a large set ------------------------------------------------------------------------


class GuardedList(SortedList):  # type: ignore[misc]
    """A SortedList that counts the entries read out of it and forbids full walks."""

    touched = 0

    def __iter__(self) -> Any:
        raise AssertionError("a command walked the whole sorted set")

    def islice(self, start: Any = None, stop: Any = None, reverse: bool = False) -> Any:
        items = list(super().islice(start, stop, reverse))
        GuardedList.touched += len(items)
        return iter(items)

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        GuardedList.touched += len(item) if isinstance(index, slice) else 1
        return item


Big = tuple[Client, list[tuple[float, bytes]]]


@pytest.fixture
def big(client: Client) -> Big:
    """A 100,000-member set with random scores and many ties, and its sorted reference."""
    rng = random.Random(42)
    reference = sorted((float(rng.randrange(20_000)), b"m%06d" % i) for i in range(BIG))
    args: list[Any] = []
    for score, member in reference:
        args += [score, member]
    client("ZADD", "z", *args)
    zs = client.db.data[b"z"]
    zs.ordered = GuardedList(list(zs.ordered.islice()))
    GuardedList.touched = 0
    return client, reference


def test_large_set_answers_like_a_sorted_list(big: Big) -> None:
    """ZRANGEBYSCORE LIMIT, ZRANK, ZCOUNT and ZREMRANGEBYRANK agree with a sorted list."""
    client, reference = big
    scores = [score for score, _ in reference]
    rng = random.Random(7)
    for _ in range(50):
        low = float(rng.randrange(20_000))
        offset = rng.randrange(100)
        first = bisect.bisect_right(scores, low)  # "(low"
        expected = [m for _, m in reference[first + offset : first + offset + 5]]
        assert client("ZRANGEBYSCORE", "z", f"({low}", "+inf", "LIMIT", offset, 5) == expected
        high = low + rng.randrange(50)
        count = bisect.bisect_right(scores, high) - bisect.bisect_left(scores, low)
        assert client("ZCOUNT", "z", low, high) == count
        rank = rng.randrange(len(reference))
        assert client("ZRANK", "z", reference[rank][1]) == rank
        assert client("ZREVRANK", "z", reference[rank][1]) == len(reference) - 1 - rank
    start = rng.randrange(len(reference) - 20)
    assert client("ZREMRANGEBYRANK", "z", start, start + 9) == 10
    del reference[start : start + 10]
    assert client("ZRANGE", "z", start - 2, start + 2) == [
        m for _, m in reference[start - 2 : start + 3]
    ]
    assert client("ZCARD", "z") == len(reference)
    assert_memory_exact(client.db)


def test_large_set_lookups_touch_only_what_they_return(big: Big) -> None:
    """Each lookup reads at most the entries it answers with: O(log N) to find, then a slice.

    A limit of -1 stands for the count the command replies with.
    """
    client, reference = big
    middle = reference[BIG // 2]
    checks: list[tuple[tuple[Any, ...], int]] = [
        (("ZRANGEBYSCORE", "z", "(10000", "+inf", "LIMIT", 500, 10), 10),
        (("ZREVRANGEBYSCORE", "z", "10000", "-inf", "LIMIT", 500, 10, "WITHSCORES"), 10),
        (("ZRANGE", "z", 50_000, 50_004), 5),
        (("ZRANGE", "z", "(5", "+inf", "BYSCORE", "REV", "LIMIT", 0, 3), 3),
        (("ZRANK", "z", middle[1]), 0),
        (("ZCOUNT", "z", 100, 15000), 0),
        (("ZSCORE", "z", middle[1]), 0),
        (("ZREMRANGEBYRANK", "z", 60_000, 60_009), 10),
        (("ZREMRANGEBYSCORE", "z", 777, 777), -1),
        (("ZPOPMIN", "z", 3), 0),
        (("ZRANDMEMBER", "z", 5), 5),
        (("ZADD", "z", 12.5, "new-member"), 0),
        (("ZREM", "z", "new-member"), 0),
    ]
    GuardedList.touched = 0
    client("ZRANGE", "z", 0, 2)
    assert GuardedList.touched == 3  # the guard is in place and counts
    for argv, limit in checks:
        GuardedList.touched = 0
        reply = client(*argv)
        assert GuardedList.touched <= (reply if limit == -1 else limit), (argv, GuardedList.touched)


def test_large_set_is_scanned_whole_once(client: Client) -> None:
    """ZSCAN over a converted set returns every member once, with scores as text."""
    client("ZADD", "z", *[part for i in range(1000) for part in (i + 0.5, f"m{i}")])
    seen: dict[bytes, bytes] = {}
    cursor = b"0"
    while True:
        cursor, flat = client("ZSCAN", "z", cursor, "COUNT", 37)
        for member, score in zip(flat[0::2], flat[1::2], strict=True):
            assert member not in seen
            seen[member] = score
        if cursor == b"0":
            break
    assert len(seen) == 1000
    assert seen[b"m7"] == b"7.5"


def test_lex_ranges_on_a_large_set_bisect(client: Client) -> None:
    """BYLEX on 100,000 equal scores reads only the entries it returns."""
    client("ZADD", "z", *[part for i in range(BIG) for part in (0, b"k%06d" % i)])
    zs = client.db.data[b"z"]
    zs.ordered = GuardedList(list(zs.ordered.islice()))
    checks: list[tuple[tuple[Any, ...], Any]] = [
        (
            ("ZRANGEBYLEX", "z", "(k050000", "+", "LIMIT", 2, 3),
            [b"k050003", b"k050004", b"k050005"],
        ),
        (("ZLEXCOUNT", "z", "[k010000", "(k020000"), 10_000),
        (("ZREVRANGEBYLEX", "z", "[k000009", "-", "LIMIT", 0, 2), [b"k000009", b"k000008"]),
        (("ZREMRANGEBYLEX", "z", "[k000100", "[k000104"), 5),
    ]
    for argv, expected in checks:
        GuardedList.touched = 0
        assert client(*argv) == expected
        returned = len(expected) if isinstance(expected, list) else 0
        if argv[0] == "ZREMRANGEBYLEX":
            returned = expected
        # What it returns, plus four reads of the ends (first and last entry).
        assert GuardedList.touched <= returned + 4, (argv, GuardedList.touched)
