"""Blocking pops through the Engine directly: parking, serving, deadlines.

The engine never waits: a pop that finds nothing returns `Blocked`, the test
parks it with `engine.block(blocked, wake)` and a later write calls `wake`.
Deadlines are read off a FakeClock; nothing here sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from queuekit.engine import errors
from queuekit.engine.command import command
from queuekit.engine.commands.lists import push
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Blocked, Reply
from queuekit.engine.session import Session
from tests.engine.conformance.dsl import Case, On, Receive, Send, case
from tests.engine.conformance.runner import run_case
from tests.engine.support import START_MS, Arg, Client
from tests.support.redis_server import RedisServer


class Harness(Client):
    """Errors come back as values; `park` blocks a command and records what wakes it."""

    def __init__(self) -> None:
        super().__init__(errors_as_values=True)
        self.woken: list[tuple[str, Any]] = []

    def park(self, name: str, *argv: Arg) -> Blocked:
        """Run a blocking command that must block, in a session of its own, and park it."""
        blocked = self(*argv, session=Session())
        assert type(blocked) is Blocked, blocked
        self.engine.block(blocked, lambda reply: self.woken.append((name, reply)))
        return blocked

    def waiting(self, key: bytes) -> int:
        queue = self.engine.db.waiting.get(key)
        return 0 if queue is None else len(queue)


@pytest.fixture
def r() -> Harness:
    return Harness()


def test_pop_on_empty_list_blocks_with_its_keys(r: Harness) -> None:
    """BLPOP on missing keys returns Blocked carrying the keys and the null-array timeout reply."""
    blocked = r("BLPOP", "a", "b", 1)
    assert type(blocked) is Blocked
    assert list(blocked.keys) == [b"a", b"b"]
    assert blocked.timeout_reply is NULL_ARRAY
    assert r.engine.db.waiting == {}  # not parked until the caller says so


def test_pop_with_data_answers_at_once(r: Harness) -> None:
    """BRPOP answers from the first non-empty key, left to right, without blocking."""
    r("RPUSH", "b", "1", "2")
    r("RPUSH", "c", "3")
    assert r("BRPOP", "a", "b", "c", 0) == [b"b", b"2"]


@pytest.mark.parametrize(
    ("timeout", "deadline"),
    [
        ("0", None),
        ("0.0", None),
        ("1", START_MS + 1000),
        ("0.1", START_MS + 100),
        ("1.5", START_MS + 1500),
        ("0.0001", START_MS + 1),  # rounded up: a wait never ends early
        ("1e-3", START_MS + 1),
        ("2.0005", START_MS + 2001),
    ],
)
def test_timeout_becomes_an_absolute_deadline(r: Harness, timeout: str, deadline: int) -> None:
    """Timeouts in seconds become deadline_ms on the engine's clock; 0 waits forever."""
    blocked = r("BLPOP", "k", timeout)
    assert type(blocked) is Blocked
    assert blocked.deadline_ms == deadline


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        ("-1", errors.TIMEOUT_NEGATIVE),
        ("abc", errors.TIMEOUT_NOT_FLOAT),
        ("nan", errors.TIMEOUT_NOT_FLOAT),
    ],
)
def test_bad_timeouts_are_refused(r: Harness, timeout: str, message: str) -> None:
    """A negative or non-numeric timeout is an error, not a wait."""
    assert r("BLPOP", "k", timeout) == CommandError(message)


def test_timeout_zero_waits_until_served(r: Harness) -> None:
    """A waiter with timeout 0 stays parked however far the clock moves, then is served."""
    r.park("w", "BLPOP", "k", 0)
    r.clock.advance(10**9)
    r.engine.db.active_expire_cycle()
    r("SET", "unrelated", "x")
    assert r.woken == []
    assert r.waiting(b"k") == 1
    r("RPUSH", "k", "v")
    assert r.woken == [("w", [b"k", b"v"])]


def test_waiters_are_served_first_come_first_served(r: Harness) -> None:
    """Waiters on one key get elements in the order they blocked, one each."""
    for name in ("first", "second", "third"):
        r.park(name, "BLPOP", "k", 0)
    assert r("RPUSH", "k", "a", "b") == 2  # the reply counts the pushed length
    assert r.woken == [("first", [b"k", b"a"]), ("second", [b"k", b"b"])]
    assert r.waiting(b"k") == 1
    r("RPUSH", "k", "c")
    assert r.woken[-1] == ("third", [b"k", b"c"])
    assert r.engine.db.waiting == {}
    assert r("EXISTS", "k") == 0


def test_fifo_holds_across_keys_and_commands(r: Harness) -> None:
    """Waiters on different keys and pop ends are each served from their own key in order."""
    r.park("left-a", "BLPOP", "a", 0)
    r.park("right-a", "BRPOP", "a", 0)
    r.park("b", "BLPOP", "b", 0)
    r("RPUSH", "b", "b1")
    r("RPUSH", "a", "x", "y", "z")
    assert r.woken == [("b", [b"b", b"b1"]), ("left-a", [b"a", b"x"]), ("right-a", [b"a", b"z"])]
    assert r("LPOP", "a") == b"y"


def test_keys_are_served_in_the_order_they_became_ready(r: Harness) -> None:
    """Inside one transaction, the key written first is served first."""
    r.park("on-a", "BLPOP", "a", 0)
    r.park("on-b", "BLPOP", "b", 0)
    r("MULTI")
    r("RPUSH", "b", "1")
    r("RPUSH", "a", "2")
    r("EXEC")
    assert [name for name, _ in r.woken] == ["on-b", "on-a"]


def test_multi_key_waiter_is_served_from_the_key_that_became_ready(r: Harness) -> None:
    """Like Redis, a BLPOP a b waiter woken by b pops b, even if a got data in the same EXEC."""
    r.park("w", "BLPOP", "a", "b", 0)
    r.park("only-a", "BLPOP", "a", 0)
    r("MULTI")
    r("RPUSH", "b", "from-b")
    r("RPUSH", "a", "from-a")
    r("EXEC")
    assert r.woken == [("w", [b"b", b"from-b"]), ("only-a", [b"a", b"from-a"])]


def test_multi_key_waiter_leaves_every_queue_once_served(r: Harness) -> None:
    """A waiter parked on two keys is gone from both queues after being served through one."""
    r.park("w", "BLPOP", "a", "b", 0)
    assert r.waiting(b"a") == r.waiting(b"b") == 1
    r("RPUSH", "b", "x")
    assert r.engine.db.waiting == {}
    r("RPUSH", "a", "y")
    assert r.woken == [("w", [b"b", b"x"])]
    assert r("LPOP", "a") == b"y"


def test_repeated_key_parks_once(r: Harness) -> None:
    """BLPOP k k 0 waits in k's queue once and is served once."""
    r.park("w", "BLPOP", "k", "k", 0)
    assert r.waiting(b"k") == 1
    r("RPUSH", "k", "1", "2")
    assert r.woken == [("w", [b"k", b"1"])]
    assert r("LPOP", "k") == b"2"


def test_key_emptied_in_the_same_transaction_serves_nobody(r: Harness) -> None:
    """A push popped again before EXEC ends leaves the waiter parked."""
    r.park("w", "BLPOP", "k", 0)
    r("MULTI")
    r("RPUSH", "k", "a")
    r("LPOP", "k")
    r("EXEC")
    assert r.woken == []
    assert r.waiting(b"k") == 1


def test_rename_onto_a_waited_key_serves_it(r: Harness) -> None:
    """A list renamed onto a key with waiters serves them, as a push would."""
    r.park("w", "BLPOP", "dest", 0)
    r("RPUSH", "src", "v")
    r("RENAME", "src", "dest")
    assert r.woken == [("w", [b"dest", b"v"])]


def test_string_at_waited_key_does_not_wake(r: Harness) -> None:
    """A SET of a waited key is not a list: the waiter stays parked, unharmed."""
    r.park("w", "BLPOP", "k", 0)
    r("SET", "k", "string")
    assert r.woken == []
    r("DEL", "k")
    r("RPUSH", "k", "v")
    assert r.woken == [("w", [b"k", b"v"])]


def test_list_waiter_stays_parked_when_its_key_becomes_a_sorted_set(r: Harness) -> None:
    """A BLPOP waiter ignores a zset at its key; a BZPOPMIN waiter behind it is served."""
    r.park("list", "BLPOP", "k", 0)
    r.park("zset", "BZPOPMIN", "k", 0)
    r("ZADD", "k", 1, "m")
    assert r.woken == [("zset", [b"k", b"m", 1.0])]
    r("RPUSH", "k", "v")
    assert r.woken[-1] == ("list", [b"k", b"v"])


def test_unblock_withdraws_a_parked_waiter(r: Harness) -> None:
    """unblock() on a parked waiter returns True and a later push stays in the list."""
    blocked = r.park("w", "BLPOP", "a", "b", 0)
    assert r.engine.unblock(blocked) is True
    assert r.engine.db.waiting == {}
    r("RPUSH", "a", "v")
    assert r.woken == []
    assert r("LPOP", "a") == b"v"


def test_unblock_after_served_returns_false(r: Harness) -> None:
    """Once served, unblock() answers False: the caller must use the reply it was woken with."""
    blocked = r.park("w", "BLPOP", "k", 0)
    r("RPUSH", "k", "v")
    assert r.engine.unblock(blocked) is False
    assert r.engine.unblock(blocked) is False
    assert r.woken == [("w", [b"k", b"v"])]


def test_unblock_twice_returns_false_the_second_time(r: Harness) -> None:
    """A withdrawn waiter cannot be withdrawn again."""
    blocked = r.park("w", "BLPOP", "k", 0)
    assert r.engine.unblock(blocked) is True
    assert r.engine.unblock(blocked) is False


def test_withdrawn_waiter_keeps_the_order_of_the_others(r: Harness) -> None:
    """Withdrawing one waiter from the middle leaves the rest first come first served."""
    r.park("1", "BLPOP", "k", 0)
    middle = r.park("2", "BLPOP", "k", 0)
    r.park("3", "BLPOP", "k", 0)
    r.engine.unblock(middle)
    r("RPUSH", "k", "a", "b")
    assert r.woken == [("1", [b"k", b"a"]), ("3", [b"k", b"b"])]


def test_waiters_are_served_after_a_command_that_fails_after_writing(r: Harness) -> None:
    """Serving runs after every command, even one whose handler wrote and then raised."""

    def push_then_fail(db: Database, argv: Sequence[bytes]) -> Reply:
        push(db, argv, left=False)
        raise CommandError("ERR failed after the push")

    r.engine.register([command("pushfail", -3, "write", (1, 1, 1), push_then_fail)])
    r.park("w", "BLPOP", "k", 0)
    assert r("PUSHFAIL", "k", "v") == CommandError("ERR failed after the push")
    assert r.woken == [("w", [b"k", b"v"])]
    assert r.engine.db.ready == {}


def test_served_waiter_is_not_served_twice(r: Harness) -> None:
    """Each element goes to exactly one waiter; a served waiter gets nothing more."""
    r.park("w", "BLPOP", "a", "b", 0)
    r("MULTI")
    r("RPUSH", "a", "1")
    r("RPUSH", "b", "2")
    r("EXEC")
    assert r.woken == [("w", [b"a", b"1"])]
    assert r("LPOP", "b") == b"2"


# -- differential: the same steps on redis-server -------------------------------

DIFFERENTIAL = [
    case(
        "blocking: multi-key waiter is served from the ready key",
        On(1, Send(["BLPOP", "k1", "k2", 0])),
        On(2, Send(["BLPOP", "k1", 0])),
        ["MULTI"],
        ["RPUSH", "k2", "x2"],
        ["RPUSH", "k1", "x1"],
        ["EXEC"],
        Receive(1),
        Receive(2),
    ),
    case(
        "blocking: first come first served across clients",
        On(1, Send(["BRPOP", "k", 0])),
        On(2, Send(["BRPOP", "k", 0])),
        On(3, Send(["BLPOP", "k", 0])),
        ["RPUSH", "k", "a", "b", "c"],
        Receive(1),
        Receive(2),
        Receive(3),
        ["EXISTS", "k"],
    ),
    case(
        "blocking: blmpop waiter is served from the ready key",
        On(1, Send(["BLMPOP", 0, 2, "k1", "k2", "LEFT", "COUNT", 5])),
        ["MULTI"],
        ["RPUSH", "k2", "a", "b"],
        ["RPUSH", "k1", "c"],
        ["EXEC"],
        Receive(1),
        ["LRANGE", "k1", 0, -1],
    ),
    case(
        "blocking: blmove to a wrong-type destination gets the error and pops nothing",
        ["SET", "dst", "str"],
        On(1, Send(["BLMOVE", "src", "dst", "LEFT", "LEFT", 0])),
        On(2, Send(["BLPOP", "src", 0])),
        ["RPUSH", "src", "1", "2"],
        Receive(1),
        Receive(2),
        ["LRANGE", "src", 0, -1],
    ),
    case(
        "blocking: blmove serves a waiter on its destination",
        On(1, Send(["BLMOVE", "a", "b", "LEFT", "LEFT", 0])),
        On(2, Send(["BLPOP", "b", 0])),
        ["RPUSH", "a", "x"],
        Receive(1),
        Receive(2),
        ["EXISTS", "a", "b"],
    ),
    case(
        "blocking: list waiter ignores a sorted set at its key",
        On(1, Send(["BLPOP", "k", 0])),
        On(2, Send(["BZPOPMIN", "k", 0])),
        ["ZADD", "k", 1, "m"],
        Receive(2),
        ["RPUSH", "k", "v"],
        Receive(1),
    ),
]


@pytest.mark.redis
@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("scenario", DIFFERENTIAL, ids=str)
def test_blocking_answers_like_redis(scenario: Case, resp: int, redis_server: RedisServer) -> None:
    """These blocking scenarios get the same replies from the engine as from redis-server."""
    mismatches = run_case(scenario, redis_server.host, redis_server.port, resp)
    assert not mismatches, "\n".join(mismatches)
