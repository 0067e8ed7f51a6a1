"""What each write becomes in the AOF: rewrites, no-ops, deletions, transactions.

Each case runs some set-up commands on a recording engine (fake clock at
START_MS), then one command, and checks exactly what that command logged.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from queuekit.engine.replies import Blocked
from queuekit.engine.session import Session
from queuekit.persistence.propagate import Propagation
from tests.persistence.support import START_MS, Recorder, commands_of

Cmd = Sequence[str | bytes | int]


def logged_by(setup: Sequence[Cmd], command: Cmd) -> list[list[bytes]]:
    """What `command` alone logs, after `setup` ran on a fresh recording engine."""
    recorder = Recorder()
    for args in setup:
        recorder(*args)
    before = len(recorder.log)
    recorder(*command)
    return commands_of(recorder.log[before:])


AT = START_MS  # the fake clock's time when the command runs, in ms
CASES = [
    # rule 1: relative TTLs become absolute deadlines
    ([("SET", "k", "v")], ("EXPIRE", "k", 10), [[b"PEXPIREAT", b"k", b"%d" % (AT + 10_000)]]),
    ([("SET", "k", "v")], ("PEXPIRE", "k", 250), [[b"PEXPIREAT", b"k", b"%d" % (AT + 250)]]),
    (
        [("SET", "k", "v")],
        ("EXPIREAT", "k", AT // 1000 + 5),
        [[b"PEXPIREAT", b"k", b"%d" % (AT + 5000)]],
    ),
    (
        [("SET", "k", "v", "EX", 100)],
        ("EXPIRE", "k", 200, "GT"),
        [[b"PEXPIREAT", b"k", b"%d" % (AT + 200_000)]],
    ),
    ([("SET", "k", "v", "EX", 100)], ("EXPIRE", "k", 200, "LT"), []),
    ([("SET", "k", "v")], ("EXPIRE", "k", 10, "XX"), []),
    ([("SET", "k", "v")], ("EXPIRE", "k", -1), [[b"DEL", b"k"]]),
    ([], ("EXPIRE", "missing", 10), []),
    ([], ("SET", "k", "v", "EX", 7), [[b"SET", b"k", b"v", b"PXAT", b"%d" % (AT + 7000)]]),
    ([], ("SET", "k", "v", "PX", 70), [[b"SET", b"k", b"v", b"PXAT", b"%d" % (AT + 70)]]),
    (
        [],
        ("SET", "k", "v", "EXAT", AT // 1000 + 9),
        [[b"SET", b"k", b"v", b"PXAT", b"%d" % (AT + 9000)]],
    ),
    ([], ("SETEX", "k", 3, "v"), [[b"SET", b"k", b"v", b"PXAT", b"%d" % (AT + 3000)]]),
    ([], ("PSETEX", "k", 30, "v"), [[b"SET", b"k", b"v", b"PXAT", b"%d" % (AT + 30)]]),
    (
        [("SET", "k", "a", "EX", 5)],
        ("SET", "k", "b", "KEEPTTL"),
        [[b"SET", b"k", b"b", b"KEEPTTL"]],
    ),
    ([("SET", "k", "v")], ("GETEX", "k", "EX", 4), [[b"PEXPIREAT", b"k", b"%d" % (AT + 4000)]]),
    ([("SET", "k", "v", "EX", 5)], ("GETEX", "k", "PERSIST"), [[b"PERSIST", b"k"]]),
    ([("SET", "k", "v")], ("GETEX", "k", "PXAT", 1), [[b"DEL", b"k"]]),
    ([("SET", "k", "v")], ("GETEX", "k"), []),
    # SET's conditions: what it did, whatever it was asked
    ([("SET", "k", "v")], ("SET", "k", "w", "NX"), []),
    ([("SET", "k", "v")], ("SET", "k", "w", "NX", "GET"), []),
    ([], ("SET", "k", "w", "NX", "GET"), [[b"SET", b"k", b"w"]]),
    ([], ("SET", "k", "w", "XX", "GET"), []),
    (
        [("SET", "k", "v")],
        ("SET", "k", "w", "XX", "GET", "PX", 5),
        [[b"SET", b"k", b"w", b"PXAT", b"%d" % (AT + 5)]],
    ),
    # rule 2: SPOP becomes SREM of what it popped
    ([("SADD", "s", "only")], ("SPOP", "s"), [[b"SREM", b"s", b"only"]]),
    ([("SADD", "s", "a", "b")], ("SPOP", "s", 5), [[b"SREM", b"s", b"a", b"b"]]),
    ([], ("SPOP", "s"), []),
    ([], ("SPOP", "s", 2), []),
    # rule 3: blocking pops served at once become the plain pop
    ([("RPUSH", "q", "x")], ("BLPOP", "empty", "q", 0), [[b"LPOP", b"q"]]),
    ([("RPUSH", "q", "x")], ("BRPOP", "q", 0), [[b"RPOP", b"q"]]),
    (
        [("RPUSH", "q", "x")],
        ("BLMOVE", "q", "d", "LEFT", "RIGHT", 0),
        [[b"LMOVE", b"q", b"d", b"LEFT", b"RIGHT"]],
    ),
    ([("RPUSH", "q", "x")], ("BRPOPLPUSH", "q", "d", 0), [[b"RPOPLPUSH", b"q", b"d"]]),
    (
        [("RPUSH", "q", "x", "y")],
        ("BLMPOP", 0, 2, "e", "q", "RIGHT", "COUNT", 5),
        [[b"RPOP", b"q", b"2"]],
    ),
    ([("RPUSH", "q", "x", "y")], ("LMPOP", 1, "q", "LEFT"), [[b"LPOP", b"q", b"1"]]),
    ([("ZADD", "z", 1, "a")], ("BZPOPMIN", "z", 0), [[b"ZPOPMIN", b"z"]]),
    ([("ZADD", "z", 1, "a")], ("BZPOPMAX", "z", 0), [[b"ZPOPMAX", b"z"]]),
    (
        [("ZADD", "z", 1, "a", 2, "b")],
        ("BZMPOP", 0, 1, "z", "MAX", "COUNT", 9),
        [[b"ZPOPMAX", b"z", b"2"]],
    ),
    ([("ZADD", "z", 1, "a")], ("ZMPOP", 1, "z", "MIN"), [[b"ZPOPMIN", b"z", b"1"]]),
    ([], ("BLPOP", "q", 0), []),
    # rule 4: floats are logged as their result
    (
        [("SET", "f", "1", "EX", 9)],
        ("INCRBYFLOAT", "f", "0.1"),
        [[b"SET", b"f", b"1.1", b"KEEPTTL"]],
    ),
    ([], ("HINCRBYFLOAT", "h", "x", "2.5"), [[b"HSET", b"h", b"x", b"2.5"]]),
    # rule 5: a write that changed nothing is not logged
    ([], ("DEL", "missing"), []),
    ([("SADD", "s", "a")], ("SADD", "s", "a"), []),
    ([], ("LPOP", "q"), []),
    ([], ("RPOP", "q", 3), []),
    ([], ("ZPOPMIN", "z"), []),
    ([], ("LPUSHX", "q", "x"), []),
    ([("SET", "k", "v")], ("SETNX", "k", "w"), []),
    ([], ("PERSIST", "k"), []),
    # deterministic writes are logged as they came
    ([], ("LPUSH", "q", "a", "b"), [[b"LPUSH", b"q", b"a", b"b"]]),
    ([("RPUSH", "q", "")], ("LPOP", "q"), [[b"LPOP", b"q"]]),
    ([], ("INCR", "n"), [[b"INCR", b"n"]]),
    # rule 8: an error reply is not logged
    ([("SET", "k", "v")], ("LPUSH", "k", "x"), []),
    ([], ("GET", "k"), []),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES, ids=lambda value: str(value)[:40])
def test_each_write_logs_its_effect(
    setup: list[Cmd], command: Cmd, expected: list[list[bytes]]
) -> None:
    """A write is logged as the deterministic command that reproduces its effect, or not at all."""
    assert logged_by(setup, command) == expected


def test_lazy_expiry_is_logged_as_del_before_the_command_that_met_it() -> None:
    """A read that finds a key past its deadline logs DEL key, then its own write."""
    recorder = Recorder()
    recorder("SET", "k", "v", "PX", 100)
    recorder.clock.advance(ms=101)
    before = len(recorder.log)
    recorder("APPEND", "k", "x")
    assert commands_of(recorder.log[before:]) == [[b"DEL", b"k"], [b"APPEND", b"k", b"x"]]


def test_active_expiry_and_eviction_are_logged_as_del() -> None:
    """Keys the active cycle or eviction removes are logged as DEL key."""
    recorder = Recorder(maxmemory=10_000, maxmemory_policy="allkeys-random")
    recorder("SET", "t", "v", "PX", 5)
    recorder.clock.advance(ms=10)
    before = len(recorder.log)
    recorder.db.active_expire_cycle()
    assert commands_of(recorder.log[before:]) == [[b"DEL", b"t"]]
    for index in range(100):
        recorder("SET", f"key{index}", "x" * 200)
    logged = commands_of(recorder.log)
    dels = [argv for argv in logged if argv[0] == b"DEL"]
    assert len(dels) == recorder.db.evicted_keys + 1 > 1


def test_a_parked_pop_is_logged_when_served_after_the_push() -> None:
    """A BLPOP that waited is logged as LPOP of the served key, after the push that woke it."""
    recorder = Recorder()
    waiter = Session()
    parked = recorder("BLPOP", "a", "b", 0, session=waiter)
    assert type(parked) is Blocked
    served: list[object] = []
    recorder.engine.block(parked, served.append)
    recorder("RPUSH", "b", "x", "y")
    assert served == [[b"b", b"x"]]
    assert commands_of(recorder.log) == [[b"RPUSH", b"b", b"x", b"y"], [b"LPOP", b"b"]]


def test_exec_body_is_wrapped_in_multi_exec() -> None:
    """EXEC's writes are logged between MULTI and EXEC; its reads are not."""
    recorder = Recorder()
    for args in (("MULTI",), ("SET", "a", "1", "EX", 5), ("GET", "a"), ("INCR", "n"), ("EXEC",)):
        recorder(*args)
    assert commands_of(recorder.log) == [
        [b"MULTI"],
        [b"SET", b"a", b"1", b"PXAT", b"%d" % (AT + 5000)],
        [b"INCR", b"n"],
        [b"EXEC"],
    ]


def test_a_transaction_that_wrote_nothing_logs_nothing() -> None:
    """An EXEC of reads only, a DISCARD and a WATCH-aborted EXEC log nothing."""
    recorder = Recorder()
    for args in (("MULTI",), ("GET", "a"), ("EXEC",), ("MULTI",), ("SET", "a", "1"), ("DISCARD",)):
        recorder(*args)
    other = Session()
    recorder("WATCH", "w")
    recorder("SET", "w", "1", session=other)
    before = len(recorder.log)
    for args in (("MULTI",), ("SET", "a", "1"), ("EXEC",)):
        recorder(*args)
    assert commands_of(recorder.log[before:]) == []
    assert commands_of(recorder.log) == [[b"SET", b"w", b"1"]]


def test_detach_stops_propagation() -> None:
    """After detach the engine reports nothing and keeps working."""
    recorder = Recorder()
    recorder.propagation.detach()
    recorder("SET", "k", "v")
    assert recorder.engine.propagator is None and recorder.db.on_delete is None
    assert recorder.log == b""
    assert isinstance(recorder.propagation, Propagation)
