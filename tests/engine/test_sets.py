"""Units for the set commands: memory, randomness, large sets, SSCAN under change."""

from __future__ import annotations

import random

import pytest

from queuekit.engine.errors import CommandError
from queuekit.engine.sampling import COPY_MAX
from queuekit.engine.scan import WHOLE_REPLY_MAX_ELEMENTS
from queuekit.resp.encoder import encode_reply
from tests.engine.support import Arg, Client, assert_memory_exact

LARGE = COPY_MAX * 2  # members: large enough for the sampler's pools


def members(count: int, prefix: str = "m") -> list[bytes]:
    return [f"{prefix}{n}".encode() for n in range(count)]


def test_used_memory_stays_exact(client: Client) -> None:
    """After every set command, used_memory equals the sum of key and value costs."""
    steps: list[tuple[Arg, ...]] = [
        ("SADD", "a", "1", "2", "3", "four"),
        ("SADD", "a", "four", "five"),
        ("SADD", "a", "five"),
        ("SADD", "a", "six"),
        ("SREM", "a", "1", "missing"),
        ("SADD", "b", "2", "3", "x"),
        ("SMOVE", "a", "b", "2"),
        ("SMOVE", "a", "c", "3"),
        ("SMOVE", "c", "a", "3"),
        ("SINTERSTORE", "i", "a", "b"),
        ("SUNIONSTORE", "u", "a", "b"),
        ("SDIFFSTORE", "a", "a", "b"),
        ("SINTERSTORE", "u", "u", "nokey"),
        ("SPOP", "b"),
        ("SPOP", "a", "2"),
        ("SPOP", "b", "100"),
        ("SET", "str", "x"),
        ("SUNIONSTORE", "str", "a"),
        ("SREM", "a", *[f"m{n}" for n in range(5)]),
    ]
    for step in steps:
        client(*step)
        assert_memory_exact(client.db)
    big = members(LARGE)
    client("SADD", "big", *big)
    client("SPOP", "big", "10")
    client("SPOP", "big")
    assert_memory_exact(client.db)
    while client("SPOP", "big", "300"):
        assert_memory_exact(client.db)


def test_memory_returns_to_zero_when_everything_is_removed(client: Client) -> None:
    """Emptying every set by SREM, SPOP and SMOVE leaves no key and no bytes."""
    client("SADD", "a", "x", "y")
    client("SADD", "b", "z")
    client("SREM", "a", "x")
    client("SMOVE", "a", "b", "y")
    client("SPOP", "b", "5")
    assert client.db.data == {}
    assert client.db.used_memory == 0


def test_srandmember_reaches_every_member(client: Client) -> None:
    """Repeated SRANDMEMBER on a small set returns each member at least once."""
    client("SADD", "s", *members(20))
    seen = {client("SRANDMEMBER", "s") for _ in range(2000)}
    assert seen == set(members(20))


def test_srandmember_reaches_every_member_of_a_large_set(client: Client) -> None:
    """The pooled sampler of a large set still returns every member."""
    client("SADD", "s", *members(LARGE))
    seen: set[bytes] = set()
    for _ in range(200):
        seen.update(client("SRANDMEMBER", "s", "-200"))
    assert seen == set(members(LARGE))


def test_srandmember_sees_members_added_after_sampling(client: Client) -> None:
    """A member added to a large set after a pick can be picked next (rule 3 of sampling)."""
    client("SADD", "s", *members(LARGE))
    client("SRANDMEMBER", "s")
    client("SREM", "s", *members(LARGE - 1))
    client("SADD", "s", "newcomer")
    picks = {client("SRANDMEMBER", "s") for _ in range(200)}
    assert picks == {b"newcomer", f"m{LARGE - 1}".encode()}


def test_srandmember_counts(client: Client) -> None:
    """A positive count gives distinct members, a negative one exactly |count| with repeats."""
    client("SADD", "s", "a", "b", "c")
    repeated = client("SRANDMEMBER", "s", "-50")
    assert len(repeated) == 50 and set(repeated) <= {b"a", b"b", b"c"}
    assert len(set(repeated)) == 3
    distinct = client("SRANDMEMBER", "s", "2")
    assert len(distinct) == 2 and len(set(distinct)) == 2
    assert sorted(client("SRANDMEMBER", "s", "3")) == [b"a", b"b", b"c"]
    client("SADD", "big", *members(LARGE))
    for count in (1, 5, LARGE // 4, LARGE // 2, LARGE - 1):
        picked = client("SRANDMEMBER", "big", count)
        assert len(picked) == count == len(set(picked))
        assert set(picked) <= set(members(LARGE))
    assert len(client("SRANDMEMBER", "big", "-5000")) == 5000
    assert client("SCARD", "big") == LARGE


def test_srandmember_count_reply_is_an_array_and_spop_count_a_set(client: Client) -> None:
    """In RESP3 SRANDMEMBER with a count answers '*', SPOP with a count '~'."""
    client("SADD", "s", "a", "b", "c")
    assert encode_reply(client("SRANDMEMBER", "s", "2"), 3).startswith(b"*2\r\n")
    assert encode_reply(client("SPOP", "s", "2"), 3).startswith(b"~2\r\n")
    assert encode_reply(client("SMEMBERS", "s"), 3).startswith(b"~1\r\n")
    assert encode_reply(client("SMEMBERS", "s"), 2).startswith(b"*1\r\n")


def test_spop_reaches_every_member(client: Client) -> None:
    """Over many refills, SPOP's first pick from a 10-member set is each member sometimes."""
    firsts: set[bytes] = set()
    for _ in range(300):
        client("SADD", "s", *members(10))
        firsts.add(client("SPOP", "s"))
        client("DEL", "s")
    assert firsts == set(members(10))


def test_spop_drains_a_large_set_once_each(client: Client) -> None:
    """Popping a large set one member at a time returns every member exactly once."""
    client("SADD", "s", *members(LARGE))
    popped = []
    while (member := client("SPOP", "s")) is not None:
        popped.append(member)
    assert sorted(popped) == sorted(members(LARGE))
    assert client("EXISTS", "s") == 0
    assert client.db.used_memory == 0


def test_spop_with_count_on_a_large_set(client: Client) -> None:
    """SPOP with a count on a large set pops distinct members that leave the set."""
    client("SADD", "s", *members(LARGE))
    popped = client("SPOP", "s", "100")
    assert isinstance(popped, set) and len(popped) == 100
    remaining = set(client("SMEMBERS", "s"))
    assert len(remaining) == LARGE - 100 and not remaining & popped
    client("SADD", "s", "late")
    popped_all: set[bytes] = set()
    while client("EXISTS", "s"):
        popped_all |= client("SPOP", "s", "50")
    assert popped_all == remaining | {b"late"}


def test_spop_is_not_stuck_on_a_reused_pool(client: Client) -> None:
    """A deleted large set's pool does not mislead SPOP on the sets that follow."""
    for round_ in range(5):
        names = members(LARGE, prefix=f"r{round_}-")
        client("SADD", "s", *names)
        assert set(client("SPOP", "s", "10")) <= set(names)
        client("DEL", "s")


def test_spop_count_at_size_hands_over_the_set(client: Client) -> None:
    """SPOP with count >= size returns all members and deletes the key."""
    client("SADD", "s", "a", "b")
    client("EXPIRE", "s", "100")
    assert client("SPOP", "s", "2") == {b"a", b"b"}
    assert client("EXISTS", "s") == 0
    assert client.db.expires == {}


def test_store_drops_the_ttl_and_empty_store_deletes(client: Client) -> None:
    """Store commands overwrite with no TTL; an empty result deletes the destination."""
    client("SADD", "a", "1")
    client("SADD", "d", "x")
    client("EXPIRE", "d", "100")
    assert client("SUNIONSTORE", "d", "a") == 1
    assert b"d" not in client.db.expires
    client("EXPIRE", "d", "100")
    assert client("SINTERSTORE", "d", "a", "missing") == 0
    assert b"d" not in client.db.data and b"d" not in client.db.expires


def test_store_result_is_a_new_set(client: Client) -> None:
    """The destination of a store does not share its set with a source."""
    client("SADD", "a", "1", "2")
    client("SUNIONSTORE", "b", "a")
    client("SADD", "b", "3")
    assert client("SCARD", "a") == 2


def test_smembers_reply_is_a_copy(client: Client) -> None:
    """A reply taken before a later write keeps its contents (EXEC collects replies)."""
    client("SADD", "s", "a")
    reply = client("SMEMBERS", "s")
    client("SADD", "s", "b")
    assert reply == {b"a"}


def test_expired_set_is_gone(client: Client) -> None:
    """A set past its deadline is invisible to every set command and frees its memory."""
    client("SADD", "s", "a", "b")
    client("PEXPIRE", "s", "100")
    client.clock.advance(ms=100)
    assert client("SCARD", "s") == 2
    client.clock.advance(ms=1)
    assert client("SCARD", "s") == 0
    assert client("SPOP", "s") is None
    assert client.db.used_memory == 0


def test_sintercard_limit_stops_early(client: Client) -> None:
    """SINTERCARD with LIMIT counts up to the limit; without it, the whole intersection."""
    client("SADD", "a", *members(500))
    client("SADD", "b", *members(300))
    assert client("SINTERCARD", "2", "a", "b") == 300
    assert client("SINTERCARD", "2", "a", "b", "LIMIT", "7") == 7
    assert client("SINTERCARD", "2", "a", "b", "LIMIT", "1000") == 300


def test_reads_count_keyspace_hits_and_misses(client: Client) -> None:
    """Read commands count a hit or a miss per key; writes and store sources do not."""
    db = client.db
    client("SADD", "s", "a")
    client("SINTERSTORE", "d", "s", "missing")
    assert (db.keyspace_hits, db.keyspace_misses) == (0, 0)
    client("SISMEMBER", "s", "a")
    client("SCARD", "missing")
    client("SUNION", "s", "missing")
    assert (db.keyspace_hits, db.keyspace_misses) == (2, 2)


def test_wrongtype_after_missing_key(client: Client) -> None:
    """SINTER type-checks every key even after a missing one."""
    client("SET", "str", "x")
    with pytest.raises(CommandError, match="WRONGTYPE"):
        client("SINTER", "missing", "str")


def scan_all(client: Client, command: str, key: str, churn: list[bytes]) -> list[bytes]:
    """SSCAN/HSCAN to the end, adding and removing churn members between calls."""
    seen: list[bytes] = []
    cursor = b"0"
    rounds = 0
    rng = random.Random(7)
    while True:
        cursor, batch = client(command, key, cursor, "COUNT", "100")
        step = 2 if command == "HSCAN" else 1
        seen.extend(batch[::step])
        rounds += 1
        gone = rng.sample(churn, 20)
        if command == "HSCAN":
            client("HDEL", key, *gone)
            client("HSET", key, *[part for n in range(20) for part in (f"new{rounds}-{n}", "v")])
        else:
            client("SREM", key, *gone)
            client("SADD", key, *[f"new{rounds}-{n}" for n in range(20)])
        if cursor == b"0":
            return seen


def test_sscan_visits_every_member_present_throughout(client: Client) -> None:
    """SSCAN over 10,000 members returns each member present for the whole scan."""
    stable = set(members(9000, prefix="s"))
    churn = members(1000, prefix="c")
    client("SADD", "s", *stable, *churn)
    seen = scan_all(client, "SSCAN", "s", churn)
    assert stable <= set(seen)
    assert len(seen) == len(set(seen))


def test_sscan_returns_only_current_members(client: Client) -> None:
    """A member removed before its batch is reached is not returned."""
    client("SADD", "s", *members(1000))
    cursor, first = client("SSCAN", "s", "0", "COUNT", "10")
    client("SREM", "s", *[m for m in members(1000) if m not in first][:500])
    left = set(client("SMEMBERS", "s"))
    seen = set(first)
    while cursor != b"0":
        cursor, batch = client("SSCAN", "s", cursor, "COUNT", "50")
        assert set(batch) <= left
        seen.update(batch)
    assert left <= seen


def test_sscan_small_set_is_whole(client: Client) -> None:
    """A set of at most WHOLE_REPLY_MAX_ELEMENTS comes back whole with cursor 0."""
    client("SADD", "s", *members(WHOLE_REPLY_MAX_ELEMENTS))
    cursor, batch = client("SSCAN", "s", "0", "COUNT", "1")
    assert cursor == b"0" and sorted(batch) == sorted(members(WHOLE_REPLY_MAX_ELEMENTS))
    client("SADD", "s", "one-more")
    cursor, batch = client("SSCAN", "s", "0", "COUNT", "1")
    assert cursor != b"0" and len(batch) == 1


def test_sscan_match_on_a_large_set(client: Client) -> None:
    """MATCH filters each batch; the union over the scan is exactly the matching members."""
    client("SADD", "s", *members(1000))
    cursor, found = b"0", set()
    while True:
        cursor, batch = client("SSCAN", "s", cursor, "MATCH", "m1*", "COUNT", "37")
        found.update(batch)
        if cursor == b"0":
            break
    assert found == {m for m in members(1000) if m.startswith(b"m1")}
