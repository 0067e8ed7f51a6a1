"""The engine's differential conformance cases, through the queuekit server over TCP.

The same cases as tests/engine/conformance, but the "actual" side is the
queuekit server reached over a socket (as redis-server is), not the engine
in process: the server's framing, reply encoding, blocking and RESP3
switching are all on the path. Sleep steps sleep for real, once, for both.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.engine.conformance.dsl import (
    Case,
    Near,
    On,
    Receive,
    Send,
    Shape,
    Sleep,
    Sorted,
    to_bytes,
)
from tests.engine.conformance.runner import RedisSide, normalize
from tests.engine.conformance.test_conformance import CASES
from tests.support.queuekit_server import RunningServer
from tests.support.redis_server import RedisServer

PARK_S = 0.02  # let both servers park a sent blocking command before the next step


def _differs(step: object, expected: Any, actual: Any) -> bool:
    if isinstance(step, Near):
        if not expected[0] == actual[0] == ":":
            return True
        return bool(abs(expected[1] - actual[1]) > step.delta)
    return bool(normalize(expected, step) != normalize(actual, step))


def run_case_between(case: Case, expected: RedisSide, actual: RedisSide) -> list[str]:
    """Run every step on two servers over the network; return a line per mismatch."""
    mismatches: list[str] = []
    for side in (expected, actual):
        side.send(0, [b"FLUSHALL"])
        side.receive(0)
    for index, step in enumerate(case.steps):
        client = 0
        if isinstance(step, On):
            client, step = step.client, step.step
        if isinstance(step, Sleep):
            time.sleep(step.ms / 1000)
            continue
        if isinstance(step, Send):
            argv = [to_bytes(a) for a in step.cmd]
            expected.send(client, argv)
            actual.send(client, argv)
            time.sleep(PARK_S)
            continue
        if isinstance(step, Receive):
            client = step.client
            label = f"Receive({client})"
        else:
            cmd = step.cmd if isinstance(step, Sorted | Shape | Near) else step
            argv = [to_bytes(a) for a in cmd]
            expected.send(client, argv)
            actual.send(client, argv)
            label = str(cmd)
        want, got = expected.receive(client), actual.receive(client)
        if _differs(step, want, got):
            mismatches.append(f"step {index} {label}: redis {want!r} != queuekit {got!r}")
    return mismatches


@pytest.mark.redis
@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_server_answers_like_redis(
    case: Case, resp: int, session_server: RunningServer, redis_server: RedisServer
) -> None:
    """Each step of the case gets the same reply from the server as from redis-server."""
    expected = RedisSide(redis_server.host, redis_server.port, resp)
    actual = RedisSide(session_server.host, session_server.port, resp)
    try:
        mismatches = run_case_between(case, expected, actual)
    finally:
        expected.close()
        actual.close()
    assert not mismatches, "\n".join(mismatches)
