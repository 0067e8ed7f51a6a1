"""The engine's two hooks for snapshots: the change counter and the write refusal (MISCONF)."""

from __future__ import annotations

import pytest

from queuekit.engine import errors
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import OK, QUEUED
from tests.engine.support import Client


@pytest.fixture
def refusing() -> Client:
    client = Client(errors_as_values=True)
    client("SET", "k", "v")
    client.engine.writes_refused = errors.MISCONF
    return client


def test_changes_count_writes_that_changed_something(client: Client) -> None:
    """A change per key written; reads and writes that change nothing count none."""
    client("SET", "a", "1")
    client("MSET", "b", "2", "c", "3")
    client("RPUSH", "q", "x")
    assert client.db.changes == 4
    client("GET", "a")
    client("LRANGE", "q", 0, -1)
    client("RPOP", "empty")
    client("SADD", "s", "m")
    client("SADD", "s", "m")  # already there
    client("DEL", "missing")
    assert client.db.changes == 5


@pytest.mark.parametrize(
    "command",
    [
        ("INCR", "counter"),
        ("DECR", "counter"),
        ("INCRBY", "counter", 5),
        ("INCRBYFLOAT", "counter", "1.5"),
        ("APPEND", "string", "more"),
        ("SETRANGE", "string", 1, "x"),
        ("LPUSH", "list", "z"),
        ("RPUSH", "list", "z", "y"),
        ("LPUSHX", "list", "z"),
        ("LPOP", "list"),
        ("RPOP", "list"),
        ("LSET", "list", 0, "w"),
        ("LMOVE", "list", "list", "LEFT", "RIGHT"),
        ("SADD", "set", "new"),
        ("SREM", "set", "a"),
        ("SPOP", "set"),
        ("HSET", "hash", "g", "2"),
        ("HINCRBY", "hash", "f", 1),
        ("HDEL", "hash", "f"),
        ("ZADD", "zset", 3, "c"),
        ("ZINCRBY", "zset", 1, "a"),
        ("ZPOPMIN", "zset"),
        ("PEXPIRE", "string", 100_000),
    ],
    ids=lambda command: " ".join(map(str, command)),
)
def test_a_change_in_place_to_an_existing_key_counts(
    client: Client, command: tuple[object, ...]
) -> None:
    """The in-place fast paths (INCR of a counter, a push onto a list...) count too."""
    client("INCRBY", "counter", 10)  # held as an int: INCR's fast path
    client("SET", "string", "value")
    client("RPUSH", "list", "a", "b", "c")
    client("SADD", "set", "a", "b", "c")
    client("HSET", "hash", "f", "1")
    client("ZADD", "zset", 1, "a", 2, "b")
    before = client.db.changes
    client(*command)
    assert client.db.changes > before


def test_flushall_and_expiry_count_their_keys(client: Client) -> None:
    """FLUSHALL counts every key it drops; a key that expires counts as a change."""
    client("MSET", "a", "1", "b", "2", "c", "3")
    client("PEXPIRE", "a", 10)
    before = client.db.changes
    client.clock.advance(ms=20)
    assert client("GET", "a") is None
    assert client.db.changes == before + 1
    client("FLUSHALL")
    assert client.db.changes == before + 3


def test_refused_writes_get_the_error_and_change_nothing(refusing: Client) -> None:
    """Writes and PING get MISCONF; reads and CONFIG-like commands still answer."""
    assert refusing("SET", "k", "w") == CommandError(errors.MISCONF)
    assert refusing("DEL", "k") == CommandError(errors.MISCONF)
    assert refusing("PING") == CommandError(errors.MISCONF)
    assert refusing("GET", "k") == b"v"
    assert refusing("DBSIZE") == 1


def test_a_refused_write_in_multi_dooms_the_exec(refusing: Client) -> None:
    """Queued, a write is refused at once and EXEC aborts, as Redis's processCommand does."""
    assert refusing("MULTI") == OK
    assert refusing("GET", "k") == QUEUED
    assert refusing("INCR", "n") == CommandError(errors.MISCONF)
    assert refusing("EXEC") == CommandError(errors.EXECABORT)


def test_an_exec_of_writes_queued_before_the_refusal_is_aborted(refusing: Client) -> None:
    """Writes queued before the refusal began: EXEC itself is refused and ends the MULTI."""
    refusing.engine.writes_refused = None
    assert refusing("MULTI") == OK
    assert refusing("INCR", "n") == QUEUED
    refusing.engine.writes_refused = errors.MISCONF
    assert refusing("EXEC") == CommandError(errors.exec_abort_because(errors.MISCONF))
    assert refusing("GET", "n") is None
    assert refusing("MULTI") == OK  # the transaction ended with the refused EXEC
    assert refusing("GET", "k") == QUEUED
    assert refusing("EXEC") == [b"v"]
