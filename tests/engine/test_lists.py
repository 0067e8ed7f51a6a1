"""Units for the list commands: memory accounting, large lists, blocking through the engine API."""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queuekit.engine import errors
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, Blocked, Reply
from queuekit.engine.session import Session
from tests.engine import support
from tests.engine.support import START_MS, Arg, argv, assert_memory_exact

LARGE = 100_000


class Client(support.Client):
    """Errors come back as values; `park` blocks a command as another client."""

    def __init__(self) -> None:
        super().__init__(errors_as_values=True)

    def park(self, *args: Arg) -> tuple[Blocked, list[Reply]]:
        """Run a blocking command as a new client; it must block. Returns it and its inbox."""
        blocked = self.engine.execute(Session(), argv(args))
        assert type(blocked) is Blocked
        inbox: list[Reply] = []
        self.engine.block(blocked, inbox.append)
        return blocked, inbox


@pytest.fixture
def r() -> Client:
    return Client()


def items(n: int) -> list[bytes]:
    return [str(i).encode() for i in range(n)]


# -- memory accounting ---------------------------------------------------------


def test_memory_stays_exact_through_every_list_command(r: Client) -> None:
    """After each list command, used_memory equals the sum of key and value costs."""
    script: list[tuple[Arg, ...]] = [
        ("RPUSH", "l", "a", "bb", "ccc", "a", "dddd", "a"),
        ("LPUSH", "l", "x", "yy"),
        ("LPUSHX", "l", "z"),
        ("RPUSHX", "nosuch", "z"),
        ("LSET", "l", "0", "a much longer value than before"),
        ("LSET", "l", "-1", ""),
        ("LINSERT", "l", "BEFORE", "ccc", "inserted"),
        ("LINSERT", "l", "AFTER", "nosuch", "never"),
        ("LREM", "l", "1", "a"),
        ("LREM", "l", "-1", "a"),
        ("LREM", "l", "0", "dddd"),
        ("LPOP", "l"),
        ("RPOP", "l", "2"),
        ("LMOVE", "l", "m", "LEFT", "RIGHT"),
        ("LMOVE", "l", "l", "LEFT", "RIGHT"),
        ("RPOPLPUSH", "l", "m"),
        ("RPUSH", "big", *items(200)),
        ("LTRIM", "big", "10", "-10"),
        ("LTRIM", "big", "50", "60"),
        ("LMPOP", "2", "nosuch", "big", "LEFT", "COUNT", "3"),
        ("BLMPOP", "0", "1", "big", "RIGHT", "COUNT", "100"),
        ("BLPOP", "m", "0"),
        ("BRPOP", "m", "0"),
        ("BLMOVE", "l", "n", "RIGHT", "LEFT", "0"),
        ("BRPOPLPUSH", "n", "l", "0"),
        ("LTRIM", "l", "5", "1"),
        ("RPUSH", "tail", "only"),
        ("LREM", "tail", "0", "only"),
    ]
    for args in script:
        reply = r(*args)
        assert not isinstance(reply, CommandError), (args, reply)
        assert_memory_exact(r.db)
    assert r.db.data == {}
    assert r.db.used_memory == 0


def test_memory_stays_exact_when_waiters_are_served(r: Client) -> None:
    """Serving a BLMOVE chain moves elements between new lists without drift."""
    r.park("BLMOVE", "a", "b", "LEFT", "LEFT", "0")
    r.park("BRPOPLPUSH", "b", "c", "0")
    r.park("BLMPOP", "0", "1", "c", "LEFT", "COUNT", "5")
    r("RPUSH", "a", "x", "y")
    assert_memory_exact(r.db)
    assert r("LRANGE", "a", "0", "-1") == [b"y"]
    assert r("EXISTS", "b", "c") == 0


# -- large lists ---------------------------------------------------------------


def test_lrange_on_a_large_list_matches_slicing(r: Client) -> None:
    """LRANGE over 100k elements answers what Python slicing does, from either end."""
    model = items(LARGE)
    r("RPUSH", "l", *model)
    for start, stop in [
        (0, -1),
        (0, 9),
        (-10, -1),
        (50_000, 50_010),
        (-60_000, -59_990),
        (99_990, 200_000),
    ]:
        end = LARGE + stop if stop < 0 else min(stop, LARGE - 1)
        begin = LARGE + start if start < 0 else start
        assert r("LRANGE", "l", start, stop) == model[begin : end + 1]


def test_ltrim_on_a_large_list(r: Client) -> None:
    """LTRIM keeps exactly the asked range, cutting a little or a lot, memory exact."""
    model = items(LARGE)
    r("RPUSH", "l", *model)
    assert r("LTRIM", "l", "10", "-11") == b"OK"
    model = model[10:-10]
    assert r("LLEN", "l") == len(model)
    assert_memory_exact(r.db)
    assert r("LTRIM", "l", "1000", "1099") == b"OK"
    model = model[1000:1100]
    assert r("LRANGE", "l", "0", "-1") == model
    assert_memory_exact(r.db)


def test_lrem_on_a_large_list(r: Client) -> None:
    """LREM from the head, from the tail and everywhere matches a list model on 100k elements."""
    rng = random.Random(7)
    model = [rng.choice([b"a", b"b", b"c"]) for _ in range(LARGE)]
    r("RPUSH", "l", *model)
    assert r("LREM", "l", "1000", "a") == 1000
    model = _remove(model, b"a", 1000)
    assert r("LREM", "l", "-2000", "b") == 2000
    model = _remove(model[::-1], b"b", 2000)[::-1]
    assert r("LRANGE", "l", "0", "-1") == model
    expected = model.count(b"c")
    assert r("LREM", "l", "0", "c") == expected
    assert r("LRANGE", "l", "0", "-1") == [item for item in model if item != b"c"]
    assert_memory_exact(r.db)


def test_lrem_of_alternating_elements_is_linear(r: Client) -> None:
    """Removing 50k of 100k interleaved elements finishes quickly and leaves the others in order."""
    r("RPUSH", "l", *[b"x" if i % 2 else b"k%d" % i for i in range(LARGE)])
    assert r("LREM", "l", str(LARGE // 2), "x") == LARGE // 2
    assert r("LRANGE", "l", "0", "2") == [b"k0", b"k2", b"k4"]
    assert r("LLEN", "l") == LARGE // 2


def _remove(model: list[bytes], element: bytes, limit: int) -> list[bytes]:
    kept: list[bytes] = []
    for item in model:
        if item == element and limit:
            limit -= 1
        else:
            kept.append(item)
    return kept


commands = st.one_of(
    st.tuples(st.just("LREM"), st.integers(-4, 4), st.sampled_from("abc")),
    st.tuples(st.just("LTRIM"), st.integers(-12, 12), st.integers(-12, 12)),
    st.tuples(st.just("LINSERT"), st.sampled_from(["BEFORE", "AFTER"]), st.sampled_from("abc")),
    st.tuples(st.just("LSET"), st.integers(-12, 12), st.sampled_from(["a", "bb", ""])),
    st.tuples(st.just("RPUSH"), st.sampled_from("abc")),
    st.tuples(
        st.just("LMOVE"), st.sampled_from(["LEFT", "RIGHT"]), st.sampled_from(["LEFT", "RIGHT"])
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from("abc"), min_size=1, max_size=10), st.lists(commands, max_size=12))
def test_command_sequences_match_a_list_model(
    start: list[str], script: list[tuple[object, ...]]
) -> None:
    """Random in-place edits agree with a Python list model, LPOS included, memory exact."""
    r = Client()
    model = [s.encode() for s in start]
    r("RPUSH", "l", *model)
    for name, a, b in (step if len(step) == 3 else (*step, None) for step in script):
        r(name, "l", *_step_args(name, a, b))
        model = _apply(model, name, a, b)
        assert r("LRANGE", "l", "0", "-1") == model
        assert_memory_exact(r.db)
        for element in (b"a", b"b"):
            positions = [i for i, item in enumerate(model) if item == element]
            assert r("LPOS", "l", element, "COUNT", "0") == positions
            assert r("LPOS", "l", element, "RANK", "-1", "COUNT", "0") == positions[::-1]


def _step_args(name: object, a: object, b: object) -> list[Arg]:
    if name == "LINSERT":
        return [str(a), str(b), "new"]
    if name == "LMOVE":
        return ["l", str(a), str(b)]
    return [str(x) for x in (a, b) if x is not None]


def _apply(model: list[bytes], name: object, a: object, b: object) -> list[bytes]:
    """What each command does to a Python list (the model the engine must match)."""
    if name == "RPUSH":
        return [*model, str(a).encode()]
    if not model:
        return model
    if name == "LREM":
        assert isinstance(a, int)
        element = str(b).encode()
        if a >= 0:
            return _remove(model, element, a or len(model))
        return _remove(model[::-1], element, -a)[::-1]
    if name == "LTRIM":
        assert isinstance(a, int) and isinstance(b, int)
        size = len(model)
        start, stop = max(a + size if a < 0 else a, 0), b + size if b < 0 else b
        return model[start : stop + 1] if start <= stop else []
    if name == "LINSERT":
        pivot = str(b).encode()
        if pivot not in model:
            return model
        index = model.index(pivot) + (a == "AFTER")
        return [*model[:index], b"new", *model[index:]]
    if name == "LSET":
        assert isinstance(a, int)
        if -len(model) <= a < len(model):
            model = list(model)
            model[a] = str(b).encode()
        return model
    item = model[0] if a == "LEFT" else model[-1]  # LMOVE l l: a rotation
    rest = model[1:] if a == "LEFT" else model[:-1]
    return [item, *rest] if b == "LEFT" else [*rest, item]


# -- blocking through the engine API --------------------------------------------


def test_blocking_commands_return_blocked_with_their_keys(r: Client) -> None:
    """Each blocking command on empty keys returns Blocked naming the keys it waits on."""
    cases: list[tuple[tuple[Arg, ...], list[bytes]]] = [
        (("BLPOP", "a", "b", "1"), [b"a", b"b"]),
        (("BRPOP", "a", "0"), [b"a"]),
        (("BLMOVE", "a", "b", "LEFT", "RIGHT", "0"), [b"a"]),
        (("BRPOPLPUSH", "a", "b", "0"), [b"a"]),
        (("BLMPOP", "2", "2", "a", "b", "LEFT", "COUNT", "3"), [b"a", b"b"]),
    ]
    for args, keys in cases:
        blocked = r(*args)
        assert type(blocked) is Blocked
        assert list(blocked.keys) == keys
        assert blocked.timeout_reply is NULL_ARRAY


def test_blocking_deadlines_follow_redis_rounding(r: Client) -> None:
    """Fractions of a millisecond round up; tiny negatives round to 0, which waits forever."""
    expected: list[tuple[str, int | None]] = [
        ("2", START_MS + 2000),
        ("0.0001", START_MS + 1),
        ("1e-400", START_MS + 1),
        ("0x10", START_MS + 16_000),
        ("0", None),
        ("-0.0001", None),
        ("-0.001", None),
        ("9223372036854775", None),
    ]
    for timeout, deadline in expected:
        blocked = r("BLMOVE", "a", "b", "LEFT", "LEFT", timeout)
        assert type(blocked) is Blocked
        assert blocked.deadline_ms == deadline, timeout
    for timeout in ("-0.002", "inf", "1e30", "9223372036854775807"):
        assert r("BLPOP", "a", timeout) == CommandError(errors.TIMEOUT_NEGATIVE)


def test_blmove_answers_null_in_multi_but_null_array_on_timeout(r: Client) -> None:
    """Redis 7.0: a denied BLMOVE inside EXEC is a null bulk; its timeout reply a null array."""
    blocked = r("BRPOPLPUSH", "a", "b", "0")
    assert type(blocked) is Blocked
    assert blocked.timeout_reply is NULL_ARRAY
    assert blocked.reply_in_multi() is None
    r("MULTI")
    r("BLMOVE", "a", "b", "LEFT", "LEFT", "0")
    r("BLMPOP", "0", "1", "a", "LEFT")
    assert r("EXEC") == [None, NULL_ARRAY]


def test_pushes_serve_waiters_in_order(r: Client) -> None:
    """Waiters of every blocking kind on one key are served first come first served."""
    _, first = r.park("BLPOP", "q", "0")
    _, second = r.park("BLMPOP", "0", "1", "q", "RIGHT", "COUNT", "2")
    _, third = r.park("BLMOVE", "q", "out", "LEFT", "LEFT", "0")
    r("RPUSH", "q", "1", "2", "3")
    assert first == [[b"q", b"1"]]
    assert second == [[b"q", [b"3", b"2"]]]
    assert third == []
    r("RPUSH", "q", "4")
    assert third == [b"4"]
    assert r("LRANGE", "out", "0", "-1") == [b"4"]
    assert r.db.waiting == {}


def test_brpoplpush_chain_wakes_the_next_waiter(r: Client) -> None:
    """A served BRPOPLPUSH creates its destination, which serves a waiter on it at once."""
    _, mover = r.park("BRPOPLPUSH", "a", "b", "0")
    _, popper = r.park("BLPOP", "b", "0")
    r("LPUSH", "a", "job")
    assert mover == [b"job"]
    assert popper == [[b"b", b"job"]]
    assert r("EXISTS", "a", "b") == 0


def test_served_blmove_with_wrongtype_destination_gets_the_error(r: Client) -> None:
    """A woken BLMOVE whose destination is not a list answers WRONGTYPE and pops nothing."""
    r("SET", "s", "x")
    _, inbox = r.park("BLMOVE", "src", "s", "LEFT", "LEFT", "0")
    r("RPUSH", "src", "a")
    assert inbox == [CommandError(errors.WRONGTYPE)]
    assert r("LRANGE", "src", "0", "-1") == [b"a"]


def test_unblock_after_timeout_returns_false_once_served(r: Client) -> None:
    """A waiter served before its timeout fires cannot be withdrawn; one not served can, once."""
    served, inbox = r.park("BRPOP", "q", "1")
    idle, idle_inbox = r.park("BLMOVE", "other", "dst", "LEFT", "LEFT", "1")
    r("RPUSH", "q", "a")
    r.clock.advance(seconds=1.5)
    assert served.deadline_ms is not None and r.clock.now_ms() > served.deadline_ms
    assert r.engine.unblock(served) is False
    assert inbox == [[b"q", b"a"]]
    assert r.engine.unblock(idle) is True
    assert r.engine.unblock(idle) is False
    r("RPUSH", "other", "x")
    assert idle_inbox == []
    assert r("LLEN", "other") == 1


def test_blocked_waiter_survives_a_key_emptied_in_multi(r: Client) -> None:
    """A push undone inside the same EXEC leaves the BLMPOP waiter parked until real data comes."""
    blocked, inbox = r.park("BLMPOP", "0", "2", "a", "b", "LEFT")
    r("MULTI")
    r("RPUSH", "b", "x")
    r("RPOP", "b")
    r("EXEC")
    assert inbox == []
    assert blocked.wake is not None
    r("RPUSH", "b", "y")
    assert inbox == [[b"b", [b"y"]]]


def test_rotation_keeps_a_one_element_list(r: Client) -> None:
    """LMOVE l l on a one-element list keeps the key (it is never momentarily deleted)."""
    r("RPUSH", "l", "only")
    r("EXPIRE", "l", "100")
    assert r("LMOVE", "l", "l", "LEFT", "RIGHT") == b"only"
    assert r("TTL", "l") == 100
    assert isinstance(r.db.data[b"l"], deque)
