"""MULTI/EXEC/DISCARD/WATCH through the Engine and its sessions directly.

The differential cases at the bottom run the same steps on a real
redis-server; the maxmemory ones cannot (the engine has no CONFIG SET), so
their expected strings were taken from redis-server 7.0.15 with
`CONFIG SET maxmemory 1`.
"""

from __future__ import annotations

from typing import Any

import pytest

from queuekit.engine import errors
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, OK, QUEUED, Blocked
from queuekit.engine.session import Session
from tests.engine.conformance.dsl import Case, On, Receive, Send, Sleep, case
from tests.engine.conformance.runner import run_case
from tests.engine.support import Arg, Client
from tests.support.redis_server import RedisServer


class Harness(Client):
    """Numbered sessions, chosen with `on=`; errors come back as values."""

    def __init__(self, **engine_options: Any) -> None:
        super().__init__(errors_as_values=True, **engine_options)
        self.sessions: dict[int, Session] = {}

    def __call__(self, *argv: Arg, on: int = 0) -> Any:  # type: ignore[override]
        return super().__call__(*argv, session=self.sessions.setdefault(on, Session()))


@pytest.fixture
def r() -> Harness:
    return Harness()


def err(message: str) -> CommandError:
    return CommandError(message)


def transaction(r: Harness, *commands: tuple[Any, ...], on: int = 0) -> Any:
    """MULTI, the commands (each must be QUEUED), EXEC's reply."""
    assert r("MULTI", on=on) == OK
    for cmd in commands:
        assert r(*cmd, on=on) == QUEUED
    return r("EXEC", on=on)


# -- queueing and EXECABORT ---------------------------------------------------


def test_commands_are_queued_not_run(r: Harness) -> None:
    """Between MULTI and EXEC nothing runs: another session sees the old state."""
    r("SET", "k", "1")
    assert r("MULTI") == OK
    assert r("INCR", "k") == QUEUED
    assert r("GET", "k", on=1) == b"1"
    assert r("EXEC") == [2]


def test_queued_unknown_command_aborts_exec(r: Harness) -> None:
    """A command refused at queue time makes EXEC answer EXECABORT and run nothing."""
    assert r("MULTI") == OK
    assert r("INCR", "k") == QUEUED
    assert r("NOSUCH", "x") == err(errors.unknown_command([b"NOSUCH", b"x"]))
    assert r("EXEC") == err(errors.EXECABORT)
    assert r("GET", "k") is None


def test_queued_arity_error_aborts_exec(r: Harness) -> None:
    """A wrong arity while queueing dooms the transaction too."""
    transaction(r, ("SET", "k", "v"))
    assert r("MULTI") == OK
    assert r("GET") == err(errors.wrong_arity(b"get"))
    assert r("SET", "k", "w") == QUEUED
    assert r("EXEC") == err(errors.EXECABORT)
    assert r("GET", "k") == b"v"


def test_session_leaves_multi_after_execabort(r: Harness) -> None:
    """After EXECABORT the session is out of MULTI: a second EXEC is an error."""
    r("MULTI")
    r("NOSUCH")
    assert r("EXEC") == err(errors.EXECABORT)
    assert r("EXEC") == err(errors.EXEC_WITHOUT_MULTI)
    assert r("INCR", "k") == 1


def test_exec_with_wrong_arity_discards_at_once(r: Harness) -> None:
    """EXEC with arguments inside MULTI ends the transaction, as Redis's execCommandAbort."""
    r("MULTI")
    r("INCR", "k")
    assert r("EXEC", "now") == err(
        errors.exec_abort_because("wrong number of arguments for 'exec' command")
    )
    assert r("EXEC") == err(errors.EXEC_WITHOUT_MULTI)
    assert r("GET", "k") is None


def test_discard_with_wrong_arity_dooms_exec(r: Harness) -> None:
    """DISCARD with arguments is refused and flags the transaction; EXEC aborts."""
    r("MULTI")
    assert r("DISCARD", "x") == err(errors.wrong_arity(b"discard"))
    assert r("EXEC") == err(errors.EXECABORT)


def test_errors_inside_exec_do_not_stop_the_rest(r: Harness) -> None:
    """A runtime error is that command's reply; the commands after it still run."""
    r("RPUSH", "list", "a")
    replies = transaction(r, ("INCR", "k"), ("INCR", "list"), ("INCR", "k"), ("GET", "k"))
    assert replies == [1, err(errors.WRONGTYPE), 2, b"2"]


def test_nested_multi_and_watch_inside_multi_do_not_doom(r: Harness) -> None:
    """MULTI inside MULTI and WATCH inside MULTI are errors that do not flag the EXEC."""
    r("MULTI")
    assert r("MULTI") == err(errors.MULTI_NESTED)
    assert r("WATCH", "k") == err(errors.WATCH_IN_MULTI)
    assert r("INCR", "k") == QUEUED
    assert r("EXEC") == [1]


def test_empty_transaction(r: Harness) -> None:
    """MULTI then EXEC answers an empty array."""
    assert transaction(r) == []


def test_discard_drops_the_queue(r: Harness) -> None:
    """DISCARD forgets queued commands and leaves MULTI."""
    r("MULTI")
    r("INCR", "k")
    assert r("DISCARD") == OK
    assert r("GET", "k") is None
    assert r("DISCARD") == err(errors.DISCARD_WITHOUT_MULTI)


def test_unwatch_inside_multi_is_queued(r: Harness) -> None:
    """UNWATCH inside MULTI is queued like any command and answers OK in EXEC."""
    r("MULTI")
    assert r("UNWATCH") == QUEUED
    assert r("EXEC") == [OK]


def test_blocking_pop_inside_exec_does_not_block(r: Harness) -> None:
    """A BLPOP on an empty list inside EXEC answers the timeout reply at once."""
    replies = transaction(r, ("BLPOP", "nothing", 0), ("RPUSH", "l", "a"), ("BLPOP", "l", 0))
    assert replies == [NULL_ARRAY, 1, [b"l", b"a"]]


# -- WATCH --------------------------------------------------------------------


def test_watch_untouched_key_succeeds(r: Harness) -> None:
    """EXEC runs when nobody wrote the watched key, even if others read it."""
    r("SET", "w", "1")
    r("WATCH", "w")
    r("GET", "w", on=1)
    r("SET", "other", "x", on=1)
    assert transaction(r, ("INCR", "w")) == [2]


@pytest.mark.parametrize(
    "write",
    [
        ("SET", "w", "2"),
        ("SET", "w", "1"),  # the same value still counts as a write
        ("INCR", "w"),
        ("DEL", "w"),
        ("EXPIRE", "w", 100),
        ("RENAME", "w", "elsewhere"),
        ("FLUSHALL",),
        ("FLUSHDB",),
    ],
)
def test_watch_aborts_when_another_session_writes(r: Harness, write: tuple[Any, ...]) -> None:
    """Any write to a watched key by another session makes EXEC answer a null array."""
    r("SET", "w", "1")
    assert r("WATCH", "w") == OK
    r(*write, on=1)
    assert transaction(r, ("SET", "x", "1")) is NULL_ARRAY
    assert r("GET", "x") is None


def test_watch_aborts_on_own_write_before_multi(r: Harness) -> None:
    """The watching session's own write before MULTI aborts its EXEC too."""
    r("SET", "w", "1")
    r("WATCH", "w")
    r("SET", "w", "2")
    assert transaction(r, ("GET", "w")) is NULL_ARRAY


def test_watch_missing_key_created_then_deleted_aborts(r: Harness) -> None:
    """A missing watched key that is created and deleted again still aborts."""
    r("WATCH", "w")
    r("SET", "w", "1", on=1)
    r("DEL", "w", on=1)
    assert transaction(r, ("SET", "x", "1")) is NULL_ARRAY


def test_watch_noop_writes_do_not_abort(r: Harness) -> None:
    """Commands that change nothing (DEL of a missing key, PERSIST without TTL) do not abort."""
    r("SET", "w", "1")
    r("WATCH", "w", "gone")
    r("DEL", "gone", on=1)
    r("PERSIST", "w", on=1)
    assert transaction(r, ("SET", "x", "1")) == [OK]


def test_watch_aborts_when_key_expires_after_watch(r: Harness) -> None:
    """A key live at WATCH whose TTL runs out before EXEC aborts it, read or not."""
    r("SET", "w", "1", "PX", 100)
    r("WATCH", "w")
    r.clock.advance(ms=200)
    assert transaction(r, ("SET", "x", "1")) is NULL_ARRAY


def test_watch_aborts_when_expired_key_is_reclaimed(r: Harness) -> None:
    """A key live at WATCH, expired and then lazily deleted by a read, aborts."""
    r("SET", "w", "1", "PX", 100)
    r("WATCH", "w")
    r.clock.advance(ms=200)
    assert r("GET", "w", on=1) is None
    assert transaction(r, ("SET", "x", "1")) is NULL_ARRAY


def test_watch_of_already_expired_key_survives_its_reclaim(r: Harness) -> None:
    """Redis 7.0: a key already expired when watched is absent; reclaiming it is no change."""
    r("SET", "w", "1", "PX", 5)
    r.clock.advance(ms=10)
    r("WATCH", "w")
    assert r("GET", "w", on=1) is None
    assert transaction(r, ("SET", "x", "1")) == [OK]


def test_watch_of_already_expired_key_survives_flush(r: Harness) -> None:
    """FLUSHALL of a key that was already expired when watched does not abort."""
    r("SET", "w", "1", "PX", 5)
    r.clock.advance(ms=10)
    r("WATCH", "w")
    r("FLUSHALL", on=1)
    assert transaction(r, ("SET", "x", "1")) == [OK]


def test_watch_of_already_expired_key_aborts_when_recreated(r: Harness) -> None:
    """After an already-expired watched key is reclaimed, creating it again aborts."""
    r("SET", "w", "1", "PX", 5)
    r.clock.advance(ms=10)
    r("WATCH", "w")
    r("GET", "w", on=1)
    r("SET", "w", "2", on=1)
    assert transaction(r, ("SET", "x", "1")) is NULL_ARRAY


def test_flush_of_missing_watched_key_does_not_abort(r: Harness) -> None:
    """FLUSHALL aborts only watchers of keys that existed."""
    r("SET", "other", "1")
    r("WATCH", "w")
    r("FLUSHALL", on=1)
    assert transaction(r, ("SET", "x", "1")) == [OK]


def test_unwatch_forgets_watched_keys(r: Harness) -> None:
    """After UNWATCH a write to the once-watched key no longer aborts."""
    r("SET", "w", "1")
    r("WATCH", "w")
    assert r("UNWATCH") == OK
    r("SET", "w", "2", on=1)
    assert transaction(r, ("GET", "w")) == [b"2"]
    assert r.engine.db.watchers == {}


def test_discard_unwatches(r: Harness) -> None:
    """DISCARD also forgets the WATCHes: the next transaction runs."""
    r("SET", "w", "1")
    r("WATCH", "w")
    r("SET", "w", "2", on=1)
    r("MULTI")
    assert r("DISCARD") == OK
    assert transaction(r, ("GET", "w")) == [b"2"]


def test_exec_unwatches_even_when_aborted(r: Harness) -> None:
    """EXEC forgets every WATCH whatever its outcome, leaving no watcher behind."""
    r("SET", "w", "1")
    r("WATCH", "w", "v")
    r("SET", "w", "2", on=1)
    assert transaction(r, ("GET", "w")) is NULL_ARRAY
    assert r.engine.db.watchers == {}
    assert r.sessions[0].watched == {}
    assert transaction(r, ("GET", "w")) == [b"2"]


def test_watch_is_per_session(r: Harness) -> None:
    """A write aborts only the sessions that watch that key."""
    r("SET", "a", "1")
    r("SET", "b", "1")
    r("WATCH", "a", on=1)
    r("WATCH", "b", on=2)
    r("INCR", "a")
    assert transaction(r, ("GET", "a"), on=1) is NULL_ARRAY
    assert transaction(r, ("GET", "b"), on=2) == [b"1"]


def test_watch_twice_is_one_watch(r: Harness) -> None:
    """Watching a key twice registers it once; one UNWATCH clears it."""
    r("WATCH", "w", "w")
    r("WATCH", "w")
    assert r.engine.db.watchers[b"w"] == {r.sessions[0]}
    r("UNWATCH")
    assert b"w" not in r.engine.db.watchers


def test_watch_aborts_when_a_key_is_evicted() -> None:
    """An eviction is a write: it aborts the watchers of the evicted key."""
    r = Harness(maxmemory=1, maxmemory_policy="allkeys-random")
    r.engine.maxmemory = 0
    r("SET", "w", "1")
    r("WATCH", "w")
    r.engine.maxmemory = 1
    r("SET", "x", "1", on=1)  # evicts w (the only key) before it runs
    assert r("EXISTS", "w") == 0
    assert transaction(r, ("GET", "x")) is NULL_ARRAY


# -- maxmemory and transactions -------------------------------------------------


def over_memory() -> Harness:
    """An engine holding one key under noeviction with a limit it is already past."""
    r = Harness(maxmemory=1)
    r.engine.maxmemory = 0
    r("SET", "k", "v")
    r.engine.maxmemory = 1
    return r


def test_oom_refuses_writes_that_grow_but_not_reads_or_deletes() -> None:
    """Over maxmemory, denyoom commands get OOM; GET and DEL still run."""
    r = over_memory()
    assert r("SET", "k2", "v") == err(errors.OOM)
    assert r("GET", "k") == b"v"
    assert r("DEL", "nokey") == 0


def test_oom_refuses_any_command_queued_in_multi() -> None:
    """Redis refuses to queue even a read when over maxmemory, dooming the EXEC."""
    r = over_memory()
    assert r("MULTI") == OK
    assert r("GET", "k") == err(errors.OOM)
    assert r("EXEC") == err(errors.EXECABORT)


def test_oom_at_exec_aborts_a_transaction_that_would_grow() -> None:
    """EXEC over maxmemory with a queued denyoom command is refused and discarded."""
    r = Harness(maxmemory=1)
    r.engine.maxmemory = 0
    r("SET", "k", "v")
    r("MULTI")
    r("SET", "a", "1")
    r.engine.maxmemory = 1
    assert r("EXEC") == err(errors.exec_abort_because(errors.OOM))
    assert r("EXEC") == err(errors.EXEC_WITHOUT_MULTI)
    assert r("GET", "a") is None


def test_oom_at_exec_still_runs_a_read_only_transaction() -> None:
    """EXEC over maxmemory runs when nothing queued may grow memory."""
    r = Harness(maxmemory=1)
    r.engine.maxmemory = 0
    r("SET", "k", "v")
    r("MULTI")
    r("GET", "k")
    r.engine.maxmemory = 1
    assert r("EXEC") == [b"v"]


def test_multi_discard_and_empty_exec_work_over_memory() -> None:
    """MULTI, DISCARD and an empty EXEC are never refused for memory."""
    r = over_memory()
    assert r("MULTI") == OK
    assert r("DISCARD") == OK
    assert transaction(r) == []


def test_watch_inside_multi_over_memory_is_oom_and_dooms() -> None:
    """Inside MULTI over maxmemory even WATCH is refused with OOM, flagging the EXEC."""
    r = over_memory()
    r("MULTI")
    assert r("WATCH", "k") == err(errors.OOM)
    assert r("EXEC") == err(errors.EXECABORT)


def test_transaction_leaves_no_state_on_sessions_or_engine(r: Harness) -> None:
    """After EXEC, EXECABORT and DISCARD the session is back to its initial state."""
    for finish in ("EXEC", "DISCARD"):
        r("WATCH", "a")
        r("MULTI")
        r("NOSUCH")
        r(finish)
        session = r.sessions[0]
        assert session.multi is None
        assert not session.multi_failed
        assert not session.watch_dirty
        assert session.watched == {}
    assert r.engine.db.watchers == {}


def test_pushes_in_exec_wake_waiters_only_after_exec(r: Harness) -> None:
    """A waiter sees the state after the whole transaction, not an intermediate one."""
    blocked = r("BLPOP", "l", 0, on=1)
    assert type(blocked) is Blocked
    woken: list[Any] = []
    r.engine.block(blocked, lambda reply: woken.append((reply, list(r.engine.db.data[b"l"]))))
    replies = transaction(r, ("RPUSH", "l", "a", "b"), ("LPOP", "l"), ("RPUSH", "l", "c"))
    # Served mid-transaction, the waiter would have taken "a" and LPOP "b".
    assert replies == [2, b"a", 2]
    assert woken == [([b"l", b"b"], [b"c"])]


# -- differential: the same steps on redis-server -------------------------------

DIFFERENTIAL = [
    case(
        "transactions: watch of an already expired key survives its reclaim",
        ["SET", "w", "v", "PX", 5],
        Sleep(20),
        ["WATCH", "w"],
        On(1, ["GET", "w"]),
        ["MULTI"],
        ["SET", "x", 1],
        ["EXEC"],
    ),
    case(
        "transactions: watch of an already expired key survives flushall",
        ["SET", "w", "v", "PX", 5],
        Sleep(20),
        ["WATCH", "w"],
        On(1, ["FLUSHALL"]),
        ["MULTI"],
        ["SET", "x", 1],
        ["EXEC"],
    ),
    case(
        "transactions: reclaimed then recreated watched key aborts",
        ["SET", "w", "v", "PX", 5],
        Sleep(20),
        ["WATCH", "w"],
        On(1, ["GET", "w"]),
        On(1, ["SET", "w", "2"]),
        ["MULTI"],
        ["SET", "x", 1],
        ["EXEC"],
    ),
    case(
        "transactions: exec with arguments discards the transaction",
        ["MULTI"],
        ["INCR", "k"],
        ["EXEC", "now"],
        ["EXEC"],
        ["GET", "k"],
    ),
    case(
        "transactions: discard with arguments dooms exec",
        ["MULTI"],
        ["DISCARD", "now"],
        ["EXEC"],
    ),
    case(
        "transactions: waiter sees the state after exec",
        On(1, Send(["BLPOP", "l", 0])),
        ["MULTI"],
        ["RPUSH", "l", "a", "b"],
        ["LPOP", "l"],
        ["RPUSH", "l", "c"],
        ["EXEC"],
        Receive(1),
        ["LPOP", "l"],
    ),
    case(
        "transactions: push and pop in one exec leaves the waiter parked",
        On(1, Send(["BLPOP", "l", 1])),
        ["MULTI"],
        ["RPUSH", "l", "a"],
        ["LPOP", "l"],
        ["EXEC"],
        On(2, ["RPUSH", "l", "z"]),
        Receive(1),
    ),
]


@pytest.mark.redis
@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("scenario", DIFFERENTIAL, ids=str)
def test_transactions_answer_like_redis(
    scenario: Case, resp: int, redis_server: RedisServer
) -> None:
    """These transaction scenarios get the same replies from the engine as from redis-server."""
    mismatches = run_case(scenario, redis_server.host, redis_server.port, resp)
    assert not mismatches, "\n".join(mismatches)
