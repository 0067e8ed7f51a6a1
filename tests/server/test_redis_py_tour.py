"""redis-py drives every engine command through the server, as it would a Redis.

The tour runs with each protocol and parser, sync and asyncio, on the
queuekit server and on a private redis-server; every step must come out
the same on both (see redis_py_tour.py).
"""

from __future__ import annotations

import asyncio

import pytest

from queuekit.engine.table import ALL_COMMANDS
from tests.server import redis_py_tour as tour
from tests.server.clients import VARIANT_IDS, VARIANTS, async_client, sync_client
from tests.support.queuekit_server import RunningServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def _engine_knows(command: str) -> bool:
    return any(cmd.name == command for cmd in ALL_COMMANDS)


def _sync_tour(port: int, protocol: int, parser: str, steps: list[tour.Step]) -> list[tour.Outcome]:
    client = sync_client(port, protocol, parser)
    try:
        return tour.run_tour(client, steps)
    finally:
        client.close()


async def _async_tour(
    port: int, protocol: int, parser: str, steps: list[tour.Step]
) -> list[tour.Outcome]:
    client = async_client(port, protocol, parser)
    try:
        return await tour.run_tour_async(client, steps)
    finally:
        await client.aclose()


@pytest.mark.parametrize(("protocol", "parser"), VARIANTS, ids=VARIANT_IDS)
def test_sync_tour_matches_redis(
    protocol: int, parser: str, queuekit_server: RunningServer, redis_server: RedisServer
) -> None:
    """Every step of the tour gives the same outcome on queuekit as on redis-server."""
    expected = _sync_tour(redis_server.port, protocol, parser, tour.TOUR)
    actual = _sync_tour(queuekit_server.port, protocol, parser, tour.TOUR)
    problems = tour.compare(tour.TOUR, expected, actual)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("protocol", "parser"), VARIANTS, ids=VARIANT_IDS)
def test_async_tour_matches_redis(
    protocol: int, parser: str, queuekit_server: RunningServer, redis_server: RedisServer
) -> None:
    """The asyncio client's tour gives the same outcomes on queuekit as on redis-server."""
    expected = asyncio.run(_async_tour(redis_server.port, protocol, parser, tour.TOUR))
    actual = asyncio.run(_async_tour(queuekit_server.port, protocol, parser, tour.TOUR))
    problems = tour.compare(tour.TOUR, expected, actual)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("protocol", "parser"), VARIANTS, ids=VARIANT_IDS)
def test_sorted_set_tour_matches_redis(
    protocol: int, parser: str, queuekit_server: RunningServer, redis_server: RedisServer
) -> None:
    """The sorted-set commands the engine has answer through redis-py as on redis-server."""
    steps = [step for step in tour.ZSET_TOUR if _engine_knows(step.command)]
    if len(steps) <= 1:
        pytest.skip("the engine has no sorted-set commands yet")
    expected = _sync_tour(redis_server.port, protocol, parser, steps)
    actual = _sync_tour(queuekit_server.port, protocol, parser, steps)
    problems = tour.compare(steps, expected, actual)
    assert not problems, "\n".join(problems)


def test_tour_covers_every_engine_command() -> None:
    """Each command in the engine's table is sent by at least one step of the tours."""
    toured = {step.command for step in tour.TOUR + tour.ZSET_TOUR}
    missing = sorted({cmd.name for cmd in ALL_COMMANDS} - toured)
    assert not missing, f"commands with no step in the redis-py tour: {missing}"
