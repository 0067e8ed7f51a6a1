"""The optimistic transaction runner on every store: a WatchError starts the plan again."""

from __future__ import annotations

from typing import Any

from queuekit.errors import WatchError
from queuekit.jobs.txn import Plan, run_plan, run_plan_async
from tests.jobs.conftest import Store

KEY = b"qk:{txn}:k"


def moving_plan(attempts: list[int]) -> Plan:
    """WATCH, then (the first time only) the WatchError of a watched slot that moved."""
    attempts.append(len(attempts))
    yield (b"WATCH", KEY)
    if len(attempts) == 1:
        raise WatchError("the watched slot moved to another node")
    return [(b"SET", KEY, b"v")]


def test_a_watch_error_before_exec_starts_the_plan_again(store: Store) -> None:
    """As when a cluster's watched slot moves mid-plan: the plan runs again from the top."""
    attempts: list[int] = []
    assert run_plan(store.client, lambda: moving_plan(attempts)) == [(b"SET", KEY, b"v")]
    assert attempts == [0, 1]
    assert store.client.execute(b"GET", KEY) == b"v"


def test_the_async_runner_starts_the_plan_again_too(store: Store) -> None:
    """run_plan_async: the same retry."""
    attempts: list[int] = []

    async def main() -> Any:
        async with store.async_client() as client:
            return await run_plan_async(client, lambda: moving_plan(attempts))

    assert store.run(main()) == [(b"SET", KEY, b"v")]
    assert attempts == [0, 1]
