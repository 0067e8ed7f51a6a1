"""Expiry on a fake clock: the active cycle, lazy expiry, and WATCH. No sleeps."""

from __future__ import annotations

import random

import pytest

from queuekit.engine.clock import FakeClock
from queuekit.engine.db import ACTIVE_EXPIRE_KEYS_PER_LOOP
from queuekit.engine.errors import CommandError
from queuekit.engine.memory import key_cost, value_cost
from queuekit.engine.replies import NULL_ARRAY, Reply
from tests.engine import support

KEY_COUNT = 100_000
MAX_TTL_MS = 1000


class CountingClock(FakeClock):
    """A fake clock that counts its reads: one per round of the active expire cycle."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now_ms(self) -> int:
        self.reads += 1
        return super().now_ms()


class Client(support.Client):
    """A client whose clock counts its reads."""

    clock: CountingClock

    def __init__(self) -> None:
        super().__init__(CountingClock())


@pytest.fixture
def client() -> Client:
    """Overrides conftest's: this file's tests read the counting clock."""
    return Client()


def test_active_cycle_reclaims_100k_unread_keys(client: Client) -> None:
    """100,000 keys with TTLs of 1 ms to 1 s, never read, all go once the clock passes 1 s."""
    rng = random.Random(7)
    for i in range(KEY_COUNT):
        client("SET", i, "v")
        client("PEXPIRE", i, rng.randint(1, MAX_TTL_MS))
    db = client.engine.db
    assert len(db.expires) == KEY_COUNT
    client.clock.advance(ms=MAX_TTL_MS + 1)
    reclaimed = 0
    for _ in range(KEY_COUNT):
        if not db.data:
            break
        reclaimed += db.active_expire_cycle()
    assert reclaimed == KEY_COUNT
    assert not db.data and not db.expires
    assert db.expired_keys == KEY_COUNT
    assert db.used_memory == 0
    assert client("DBSIZE") == 0


def test_active_cycle_stops_early_when_few_keys_are_due(client: Client) -> None:
    """With under a quarter of a round due, one cycle looks at one round of keys and stops."""
    db = client.engine.db
    due = set(random.Random(3).sample(range(10_000), 100))
    for i in range(10_000):
        client("SET", i, "v")
        client("PEXPIRE", i, 10 if i in due else 3_600_000)
    client.clock.advance(ms=11)
    client.clock.reads = 0
    reclaimed = db.active_expire_cycle()
    assert client.clock.reads == 1  # one round of ACTIVE_EXPIRE_KEYS_PER_LOOP keys
    assert reclaimed <= ACTIVE_EXPIRE_KEYS_PER_LOOP * 0.25
    # Repeated cycles walk on through the table and find the sparse due keys.
    calls = 0
    while len(db.data) > 10_000 - len(due):
        db.active_expire_cycle()
        calls += 1
        assert calls <= 10_000 // ACTIVE_EXPIRE_KEYS_PER_LOOP + 1
    assert {int(key) for key in db.data}.isdisjoint(due)
    assert len(db.expires) == 10_000 - len(due)


def test_active_cycle_keeps_going_while_most_keys_are_due(client: Client) -> None:
    """When every sampled key is due, one cycle runs many rounds, not just one."""
    db = client.engine.db
    for i in range(2_000):
        client("SET", i, "v")
        client("PEXPIRE", i, 5)
    client.clock.advance(ms=6)
    client.clock.reads = 0
    reclaimed = db.active_expire_cycle(budget_s=10.0)
    assert reclaimed == 2_000
    assert client.clock.reads == 2_000 // ACTIVE_EXPIRE_KEYS_PER_LOOP


def test_keys_with_a_future_ttl_survive_the_cycle(client: Client) -> None:
    """The cycle reclaims only due keys; the rest keep their value and deadline."""
    db = client.engine.db
    for i in range(1_000):
        client("SET", i, "v")
        client("PEXPIRE", i, 100 if i % 2 else 10_000)
    client.clock.advance(ms=101)
    for _ in range(1_000):
        db.active_expire_cycle()
    assert sorted(int(key) for key in db.data) == list(range(0, 1_000, 2))
    assert all(client("PTTL", key) == 9_899 for key in list(db.data)[:50])
    assert db.used_memory == sum(key_cost(k) + value_cost(v) for k, v in db.data.items())


def expired_client(kind: str) -> Client:
    """A client whose key "k" (a string or a list) expired 1 ms ago and was never read."""
    client = Client()
    if kind == "list":
        client("RPUSH", "k", "a", "b")
    else:
        client("SET", "k", "v")
    client("PEXPIRE", "k", 50)
    client.clock.advance(ms=51)
    return client


READS: list[tuple[tuple[str, ...], Reply]] = [
    (("GET", "k"), None),
    (("EXISTS", "k"), 0),
    (("TYPE", "k"), b"none"),
    (("TTL", "k"), -2),
    (("PTTL", "k"), -2),
    (("EXPIRETIME", "k"), -2),
    (("PEXPIRETIME", "k"), -2),
    (("KEYS", "*"), []),
    (("KEYS", "k"), []),
    (("SCAN", "0"), [b"0", []]),
    (("SCAN", "0", "TYPE", "string"), [b"0", []]),
    (("RANDOMKEY",), None),
    (("PERSIST", "k"), 0),
    (("EXPIRE", "k", "100"), 0),
    (("COPY", "k", "k2"), 0),
    (("DEL", "k"), 0),
    (("UNLINK", "k"), 0),
]


@pytest.mark.parametrize(
    ("argv", "expected"), [pytest.param(argv, reply, id=" ".join(argv)) for argv, reply in READS]
)
def test_expired_key_is_invisible(argv: tuple[str, ...], expected: Reply) -> None:
    """Every command that reads the keyspace sees an expired key as absent."""
    client = expired_client("string")
    assert client(*argv) == expected
    assert client("EXISTS", "k", "k2") == 0


def test_an_expired_destination_counts_as_absent() -> None:
    """RENAMENX and COPY without REPLACE may write over a key that has expired."""
    client = expired_client("string")
    client("SET", "x", "new")
    assert client("RENAMENX", "x", "k") == 1
    assert client("TTL", "k") == -1
    client("PEXPIRE", "k", 10)
    client.clock.advance(ms=11)
    client("SET", "y", "newer")
    assert client("COPY", "y", "k") == 1
    assert client("GET", "k") == b"newer"


def test_expired_list_is_invisible_to_list_commands() -> None:
    """An expired list pops nothing, renames as missing and is a new list when pushed."""
    client = expired_client("list")
    assert client("RPOP", "k") is None
    with pytest.raises(CommandError, match="no such key"):
        client("RENAME", "k", "x")
    assert client("RPUSH", "k", "c") == 1
    assert client("TTL", "k") == -1


def test_dbsize_counts_unreclaimed_keys_like_redis() -> None:
    """DBSIZE counts an expired key until a lookup or the cycle reclaims it (dictSize)."""
    client = expired_client("string")
    assert client("DBSIZE") == 1
    assert client.engine.db.active_expire_cycle() == 1
    assert client("DBSIZE") == 0


def test_watch_aborts_when_the_watched_key_expires(client: Client) -> None:
    """EXEC fails when a key expires between WATCH and EXEC, even unread."""
    client("SET", "k", "v")
    client("PEXPIRE", "k", 100)
    client("WATCH", "k")
    client.clock.advance(ms=101)
    client("MULTI")
    client("INCR", "x")
    assert client("EXEC") is NULL_ARRAY
    assert client("GET", "x") is None


def test_watch_aborts_when_the_cycle_reclaims_the_watched_key(client: Client) -> None:
    """A watched key reclaimed by the active cycle also makes EXEC fail."""
    client("SET", "k", "v")
    client("PEXPIRE", "k", 100)
    client("WATCH", "k")
    client.clock.advance(ms=101)
    assert client.engine.db.active_expire_cycle() == 1
    client("MULTI")
    client("INCR", "x")
    assert client("EXEC") is NULL_ARRAY


def test_watch_survives_a_ttl_that_has_not_run_out(client: Client) -> None:
    """A watched key with a TTL still in the future does not abort EXEC."""
    client("SET", "k", "v")
    client("PEXPIRE", "k", 100)
    client("WATCH", "k")
    client.clock.advance(ms=99)
    client("MULTI")
    client("INCR", "x")
    assert client("EXEC") == [1]


def test_watch_of_an_already_expired_key_does_not_abort(client: Client) -> None:
    """Redis 7.0: a key already expired when WATCHed does not fail the EXEC."""
    client("SET", "k", "v")
    client("PEXPIRE", "k", 10)
    client.clock.advance(ms=11)
    client("WATCH", "k")
    client("MULTI")
    client("INCR", "x")
    assert client("EXEC") == [1]
