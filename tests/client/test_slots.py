"""Cluster routing, sans IO: key slots, command keys, pipeline units, redirections."""

from __future__ import annotations

import pytest

from queuekit.client.slots import (
    CROSSSLOT,
    Dispatch,
    Redirect,
    command_keys,
    command_unit,
    key_slot,
    pipeline_units,
    redirect,
    transaction_unit,
)
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import OK, QUEUED
from queuekit.errors import UsageError
from queuekit.jobs.keys import queue_keys


def test_the_slot_is_crc16_xmodem_of_the_key_modulo_16384() -> None:
    """The cluster spec's check value: CRC16("123456789") is 0x31C3."""
    assert key_slot(b"123456789") == 0x31C3 % 16384
    assert key_slot(b"") == 0


@pytest.mark.parametrize(
    ("key", "hashed"),
    [
        (b"{user1000}.following", b"user1000"),
        (b"foo{}{bar}", b"foo{}{bar}"),  # an empty tag: the whole key
        (b"foo{{bar}}zap", b"{bar"),  # from the first "{" to the next "}"
        (b"foo{bar}{zap}", b"bar"),  # only the first tag counts
        (b"no tag}{", b"no tag}{"),
    ],
)
def test_a_hash_tag_picks_the_hashed_bytes(key: bytes, hashed: bytes) -> None:
    """The tag rules of the cluster spec, case by case."""
    assert key_slot(key) == key_slot(hashed)


def test_every_key_of_a_queue_shares_its_slot() -> None:
    """A queue is one slot: its lists, hashes and sets all hash the queue name."""
    keys = queue_keys("mail")
    names = [*keys.ready, keys.scheduled, keys.stats, keys.job("j1"), keys.running("w")]
    assert {key_slot(name) for name in names} == {key_slot(b"mail")}


@pytest.mark.parametrize(
    ("argv", "keys"),
    [
        ((b"GET", b"a"), [b"a"]),
        ((b"mset", b"a", b"1", b"b", b"2"), [b"a", b"b"]),
        ((b"BLMOVE", b"a", b"b", b"LEFT", b"RIGHT", b"0"), [b"a", b"b"]),
        ((b"LMPOP", b"2", b"a", b"b", b"RIGHT", b"COUNT", b"3"), [b"a", b"b"]),
        ((b"BLMPOP", b"0.1", b"1", b"a", b"LEFT"), [b"a"]),
        ((b"ZMPOP", b"1", b"z", b"MIN"), [b"z"]),
        ((b"SINTERCARD", b"2", b"s", b"t", b"LIMIT", b"1"), [b"s", b"t"]),
        ((b"LMPOP", b"x", b"a"), []),  # malformed: the node says why
        ((b"PING",), []),
        ((b"PFADD", b"h", b"a"), []),  # unknown to the engine: routed as keyless
    ],
)
def test_command_keys(argv: tuple[bytes, ...], keys: list[bytes]) -> None:
    """Keys come from the engine's table, or after numkeys."""
    assert command_keys(argv) == keys


def test_a_command_across_slots_is_answered_crossslot_without_being_sent() -> None:
    """Rule 1: the unit carries Redis's own error instead of a slot."""
    unit = command_unit((b"MGET", b"qk:{a}:x", b"qk:{b}:x"))
    assert unit.refused == CommandError(CROSSSLOT)
    assert unit.refusal() == [CommandError(CROSSSLOT)]
    assert command_unit((b"MGET", b"qk:{a}:x", b"qk:{a}:y")).slot == key_slot(b"a")


@pytest.mark.parametrize("name", [b"KEYS", b"scan", b"DBSIZE", b"FLUSHALL", b"FLUSHDB"])
def test_whole_keyspace_commands_are_refused_by_name(name: bytes) -> None:
    """Rule 2: they would answer for one node only."""
    refused = command_unit((name, b"0")).refused
    assert refused is not None and name.decode().upper() in refused.message


def test_a_keyless_command_goes_to_any_primary() -> None:
    """Rule 2: no slot, no refusal."""
    unit = command_unit((b"PING",))
    assert unit.slot is None and unit.refused is None


def test_inline_transactions_stay_whole_among_plain_commands() -> None:
    """A plain pipeline's MULTI ... EXEC is one unit with its own slot."""
    commands = [
        (b"SADD", b"qk:queues", b"a"),
        (b"MULTI",),
        (b"HSET", b"qk:{a}:job:1", b"f", b"v"),
        (b"LPUSH", b"qk:{a}:ready:1", b"p"),
        (b"EXEC",),
        (b"multi",),
        (b"INCR", b"qk:{b}:n"),
        (b"discard",),
    ]
    units = pipeline_units(commands)
    assert [len(unit.commands) for unit in units] == [1, 4, 3]
    assert [unit.slot for unit in units] == [
        key_slot(b"qk:queues"),
        key_slot(b"a"),
        key_slot(b"b"),
    ]


def test_a_transaction_across_slots_is_refused_whole() -> None:
    """Rule 1: every reply of the transaction is CROSSSLOT; nothing of it is sent."""
    unit = transaction_unit([(b"SET", b"qk:{a}:x", b"1"), (b"SET", b"qk:{b}:x", b"1")])
    assert unit.commands[0] == (b"MULTI",) and unit.commands[-1] == (b"EXEC",)
    assert unit.refusal() == [CommandError(CROSSSLOT)] * 4


def test_a_multi_without_exec_is_a_usage_error() -> None:
    """A transaction must reach its node whole."""
    with pytest.raises(UsageError, match=r"command #2 .* MULTI without EXEC"):
        pipeline_units([(b"GET", b"a"), (b"MULTI",), (b"SET", b"a", b"1")])


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        ([CommandError("MOVED 3999 127.0.0.1:6381")], Redirect("MOVED", ("127.0.0.1", 6381))),
        ([CommandError("ASK 3999 ::1:6381")], Redirect("ASK", ("::1", 6381))),
        ([CommandError("MOVED 3999 :6381")], Redirect("MOVED", ("", 6381))),
        ([CommandError("TRYAGAIN Multiple keys request during rehashing")], Redirect("TRYAGAIN")),
        ([CommandError("CLUSTERDOWN The cluster is down")], Redirect("CLUSTERDOWN")),
        (
            [OK, CommandError("MOVED 1 h:1"), CommandError("EXECABORT Transaction discarded")],
            Redirect("MOVED", ("h", 1)),
        ),
        ([OK, QUEUED, [1]], None),
        ([CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")], None),
    ],
)
def test_redirections_are_found_among_a_unit_s_replies(
    replies: list[object], expected: Redirect | None
) -> None:
    """Rule 4: MOVED, ASK, TRYAGAIN and CLUSTERDOWN mean the unit did not run."""
    assert redirect(replies) == expected


NODE = ("127.0.0.1", 7000)


def test_a_moved_unit_goes_again_at_once_to_the_node_named() -> None:
    """MOVED: the unit goes to the named node next round; the slot map is stale."""
    dispatch = Dispatch([command_unit((b"GET", b"a")), command_unit((b"GET", b"b"))], iter([]))
    dispatch.take(NODE, [0, 1], [CommandError("MOVED 15495 10.0.0.2:7001"), b"v"])
    assert dispatch.next_round() == 0.0
    assert dispatch.pending == [0]
    assert dispatch.routes == {0: ("10.0.0.2", 7001)}
    assert dispatch.refresh
    assert dispatch.replies[1] == [b"v"]


def test_an_ask_sends_asking_first_to_the_node_named() -> None:
    """ASK: ASKING then the command, on the named node (an empty host is the sender's)."""
    dispatch = Dispatch([command_unit((b"GET", b"a"))], iter([]))
    dispatch.take(NODE, [0], [CommandError("ASK 15495 :7002")])
    assert dispatch.next_round() == 0.0
    assert dispatch.routes == {0: ("127.0.0.1", 7002)}
    assert dispatch.commands([0]) == [(b"ASKING",), (b"GET", b"a")]
    dispatch.take(("127.0.0.1", 7002), [0], [OK, b"v"])
    assert dispatch.next_round() == 0.0
    assert (dispatch.pending, dispatch.replies) == ([], [[b"v"]])


def test_a_transaction_meeting_ask_waits_out_the_migration() -> None:
    """ASKING covers one command, so a transaction waits and tries its slot's node again."""
    unit = transaction_unit([(b"SET", b"a", b"1")])
    dispatch = Dispatch([unit], iter([0.2]))
    aborted = CommandError("EXECABORT Transaction discarded because of previous errors.")
    dispatch.take(NODE, [0], [OK, CommandError("ASK 15495 h:7002"), aborted])
    assert dispatch.next_round() == 0.2
    assert (dispatch.pending, dispatch.routes, dispatch.asking) == ([0], {}, set())


def test_clusterdown_waits_then_hands_back_its_reply() -> None:
    """CLUSTERDOWN: wait the next backoff delay; when none is left, the reply stands."""
    down = CommandError("CLUSTERDOWN The cluster is down")
    dispatch = Dispatch([command_unit((b"GET", b"a"))], iter([0.1]))
    dispatch.take(NODE, [0], [down])
    assert dispatch.next_round() == 0.1
    assert dispatch.refresh
    dispatch.take(NODE, [0], [down])
    assert dispatch.next_round() is None
    assert dispatch.replies == [[down]]


def test_refused_units_are_answered_and_never_pending() -> None:
    """Rule 1: a unit across slots has its replies before anything is sent."""
    dispatch = Dispatch([command_unit((b"MGET", b"{a}x", b"{b}y"))], iter([]))
    assert dispatch.pending == []
    assert dispatch.replies == [[CommandError(CROSSSLOT)]]
