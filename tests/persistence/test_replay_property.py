"""The differential property: a replayed AOF rebuilds the dataset it logged.

Random command sequences (the engine state machine's command tables, plus
short TTLs that expire mid-sequence, SPOP, blocking pops served at once or
parked and served later, MULTI/EXEC blocks and jumps of the fake clock) run
on a recording engine; its log, replayed into a fresh engine whose fake
clock reads the same time, must give the same live keys, values and
deadlines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queuekit.engine.replies import Blocked
from queuekit.engine.session import Session
from tests.engine.test_state_machine import COMMANDS, END, MEMBER, VALUE, K, cmd, opt, some
from tests.persistence.support import START_MS, Recorder, dataset, replay

# The families below keep a type per key (few keys, so that writes meet
# often); TTL commands reach every key, the state machine's k1..k4 included.
S = st.sampled_from([b"s1", b"s2"])
L = st.sampled_from([b"l1", b"l2"])
Z = st.sampled_from([b"z1", b"z2"])
ANY = st.sampled_from([b"k1", b"k2", b"s1", b"l1", b"z1", b"h1"])
SHORT_S = st.sampled_from([b"1", b"2", b"5"])
SHORT_MS = st.sampled_from([b"1", b"50", b"700", b"1500"])
# Absolute times around the fake clock's start: some already past.
AT_S = st.sampled_from([b"%d" % (START_MS // 1000 + delta) for delta in (-5, 1, 3, 60)])
AT_MS = st.sampled_from([b"%d" % (START_MS + delta) for delta in (-1, 0, 900, 4000)])

TIMED = [
    cmd(b"EXPIRE", ANY, SHORT_S, opt(b"NX", b"XX", b"GT", b"LT")),
    cmd(b"PEXPIRE", ANY, SHORT_MS, opt(b"GT", b"LT")),
    cmd(b"EXPIREAT", ANY, AT_S),
    cmd(b"PEXPIREAT", ANY, AT_MS),
    cmd(b"EXPIRE", ANY, b"-1"),
    cmd(b"PERSIST", ANY),
    cmd(b"SET", K, VALUE, st.sampled_from([b"EX", b"PX"]), SHORT_S, opt(b"NX", b"XX", b"GET")),
    cmd(b"SET", K, VALUE, b"PXAT", AT_MS),
    cmd(b"SET", K, VALUE, b"EXAT", AT_S, opt(b"GET")),
    cmd(b"SET", K, VALUE, b"KEEPTTL", opt(b"NX", b"XX", b"GET")),
    cmd(b"SETEX", K, SHORT_S, VALUE),
    cmd(b"PSETEX", K, SHORT_MS, VALUE),
    cmd(b"GETEX", K, st.sampled_from([(b"EX", b"2"), (b"PX", b"30"), (b"PERSIST",), ()])),
    cmd(b"GETEX", K, b"PXAT", AT_MS),
    cmd(b"INCRBYFLOAT", K, st.sampled_from([b"0.1", b"1e3", b"-2.5"])),
    cmd(b"COPY", ANY, ANY, opt(b"REPLACE")),
]
BLOCKING = [
    cmd(b"BLPOP", some(L, 1, 2), b"0"),
    cmd(b"BRPOP", L, b"0"),
    cmd(b"BLMOVE", L, L, END, END, b"0"),
    cmd(b"BRPOPLPUSH", L, L, b"0"),
    cmd(b"BLMPOP", b"0", b"2", L, L, END, b"COUNT", b"2"),
    cmd(b"BZPOPMIN", Z, b"0"),
    cmd(b"BZMPOP", b"0", b"1", Z, st.sampled_from([b"MIN", b"MAX"])),
]
# The brief's core mix on typed keys.
CORE = [
    cmd(b"SET", K, VALUE),
    cmd(b"INCR", K),
    cmd(b"LPUSH", L, some(VALUE)),
    cmd(b"RPOP", L),
    cmd(b"SADD", S, some(MEMBER, 1, 5)),
    cmd(b"SPOP", S, opt(b"1", b"2", b"9")),
    cmd(b"HSET", b"h1", b"f", VALUE),
    cmd(b"HINCRBYFLOAT", b"h1", b"g", st.sampled_from([b"0.1", b"3"])),
    cmd(b"ZADD", Z, st.sampled_from([b"1", b"2.5"]), MEMBER),
    cmd(b"ZPOPMIN", Z),
    cmd(b"DEL", ANY),
]
# Each family gets an equal share: the state machine's table alone has ~110 entries.
COMMAND = st.one_of(st.one_of(*COMMANDS), st.one_of(*TIMED), st.one_of(*CORE))
STEPS: dict[str, st.SearchStrategy[Any]] = {
    "run": COMMAND,
    "block": st.one_of(*BLOCKING),
    "advance": st.sampled_from([1, 999, 1000, 1001, 2500]),
    "multi": st.lists(st.one_of(COMMAND, *BLOCKING), min_size=1, max_size=4),
}
# A kind first, then its payload: a plain one_of drew almost only commands.
STEP = st.sampled_from(["run", "run", "run", "run", "block", "advance", "multi"]).flatmap(
    lambda kind: STEPS[kind].map(lambda payload: (kind, payload))
)


def run(recorder: Recorder, steps: list[tuple[str, Any]]) -> None:
    for kind, payload in steps:
        if kind == "run":
            recorder(*payload)
        elif kind == "advance":
            recorder.clock.advance(ms=payload)
        elif kind == "block":
            reply = recorder(*payload, session=Session())
            if type(reply) is Blocked:
                recorder.engine.block(reply, lambda served: None)
        else:
            recorder("MULTI")
            for argv in payload:
                recorder(*argv)
            recorder("EXEC")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, min_size=25, max_size=80))
def test_replay_rebuilds_the_dataset(tmp_path: Path, steps: list[tuple[str, Any]]) -> None:
    """Any command sequence, replayed from its AOF at the same time, gives the same live dataset."""
    recorder = Recorder()
    run(recorder, steps)
    replayed, report = replay(recorder.log, recorder.clock.now_ms(), tmp_path)
    assert report.truncated_at is None
    assert dataset(replayed) == dataset(recorder.engine)
    now = replayed.db.clock.now_ms()
    assert all(when >= now for when in replayed.db.expires.values())


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(STEP, min_size=20, max_size=60), downtime_ms=st.integers(0, 10_000))
def test_replay_after_downtime_drops_what_expired_meanwhile(
    tmp_path: Path, steps: list[tuple[str, Any]], downtime_ms: int
) -> None:
    """Replayed later, the dataset is the original's as of then: what expired meanwhile is gone."""
    recorder = Recorder()
    run(recorder, steps)
    log = recorder.log
    recorder.clock.advance(ms=downtime_ms)
    replayed, _ = replay(log, recorder.clock.now_ms(), tmp_path)
    assert dataset(replayed) == dataset(recorder.engine)
    assert set(replayed.db.data) == set(dataset(recorder.engine))
