"""Optimistic transactions (WATCH, read, MULTI/EXEC, retry) written once for sync and async.

A job operation that must check before it writes (a dedup key, a fixed job
id, cancel) is a *plan*: a generator that yields commands and receives their
replies, sans-IO in the manner of h11, so the same plan runs on every client:

    def plan() -> Plan:
        yield (b"WATCH", key)              # WATCH first, more WATCHes may follow
        exists = yield (b"EXISTS", key)    # reads run at once, on the same connection
        if exists:
            return None                    # nothing to do: the runner UNWATCHes
        return [(b"SET", key, b"1")]       # the body: run in MULTI/EXEC

A plan may also yield a list of read commands: the runner sends them in one
pipeline (on another connection: plain reads, after the WATCH, so a change
to a watched key still fails the EXEC) and sends back the list of replies.

The runner sends each yielded command on one pinned connection, then the body
in MULTI/EXEC; if a watched key changed, EXEC runs nothing and the runner
starts the plan again from the top (up to MAX_ATTEMPTS), so of many
concurrent writers exactly one wins per key. A WatchError raised before the
EXEC (on a Redis Cluster: the watched slot moved to another node) starts the
plan again the same way. `run_plan` returns the body that
ran, or None if the plan declined. Every key a plan touches must share one
hash tag (WATCH and MULTI are per slot on a Redis Cluster).

The body's replies are checked: an error inside EXEC (WRONGTYPE...) raises.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from queuekit.engine.errors import CommandError
from queuekit.errors import WatchError, response_error

Command = tuple[Any, ...]
Body = list[Command]
Reads = list[Command]  # read commands a plan yields to have them pipelined
Plan = Generator[Command | Reads, Any, Body | None]
PlanFactory = Callable[[], Plan]

MAX_ATTEMPTS = 1000  # WATCH retries before giving up; each loss means another writer won


def _gave_up() -> WatchError:
    return WatchError(
        f"gave up after {MAX_ATTEMPTS} attempts: the watched keys kept changing before EXEC"
    )


def check_replies(replies: Sequence[Any]) -> list[Any]:
    """EXEC's replies, raising the first error reply among them."""
    for reply in replies:
        if isinstance(reply, CommandError):
            raise response_error(reply.message)
        if isinstance(reply, Exception):
            raise reply
    return list(replies)


def run_body(client: Any, body: Body) -> list[Any]:
    """Run `body` in one MULTI/EXEC (one round trip)."""
    pipe = client.pipeline(transaction=True)
    for argv in body:
        pipe.execute_command(*argv)
    return check_replies(pipe.execute())


def run_plan(client: Any, factory: PlanFactory) -> Body | None:
    """Run a plan on a synchronous client (see the module docstring)."""
    for _ in range(MAX_ATTEMPTS):
        with client.pipeline(transaction=True) as pipe:
            try:
                body = _drive(factory(), pipe, client)
                if body is None:
                    return None
                pipe.multi()
                for argv in body:
                    pipe.execute_command(*argv)
                check_replies(pipe.execute())
            except WatchError:
                continue
            return body
    raise _gave_up()


def _drive(plan: Plan, pipe: Any, client: Any) -> Body | None:
    """Feed the plan the replies of its reads until it returns its body."""
    argv = next(plan)
    if argv[0] != b"WATCH":
        raise RuntimeError(f"a plan starts with WATCH, not {argv[0]!r}")
    pipe.watch(*argv[1:])  # later commands, WATCH included, run at once
    reply: Any = None
    try:
        while True:
            argv = plan.send(reply)
            if isinstance(argv, list):
                reply = pipelined(client, argv)
            else:
                reply = pipe.execute_command(*argv)
    except StopIteration as stop:
        result: Body | None = stop.value
        return result


def score_pairs(reply: list[Any]) -> list[tuple[bytes, Any]]:
    """ZRANGE ... WITHSCORES as (member, score) pairs, from RESP3 pairs or RESP2 flat."""
    if reply and isinstance(reply[0], list):
        return [(member, score) for member, score in reply]
    return list(zip(reply[::2], reply[1::2], strict=True))


def pipelined(client: Any, reads: Reads) -> list[Any]:
    """The replies of `reads`, sent in one plain pipeline."""
    if not reads:
        return []
    pipe = client.pipeline(transaction=False)
    for argv in reads:
        pipe.execute_command(*argv)
    return list(pipe.execute())


# -- asyncio ------------------------------------------------------------------------


async def run_body_async(client: Any, body: Body) -> list[Any]:
    """Run `body` in one MULTI/EXEC on an async client."""
    pipe = client.pipeline(transaction=True)
    for argv in body:
        pipe.execute_command(*argv)
    return check_replies(await pipe.execute())


async def run_plan_async(client: Any, factory: PlanFactory) -> Body | None:
    """Run a plan on an async client (see the module docstring)."""
    for _ in range(MAX_ATTEMPTS):
        pipe = client.pipeline(transaction=True)
        try:
            body = await _drive_async(factory(), pipe, client)
            if body is None:
                return None
            pipe.multi()
            for argv in body:
                pipe.execute_command(*argv)
            check_replies(await pipe.execute())
        except WatchError:
            continue
        finally:
            await pipe.reset()
        return body
    raise _gave_up()


async def _drive_async(plan: Plan, pipe: Any, client: Any) -> Body | None:
    argv = next(plan)
    if argv[0] != b"WATCH":
        raise RuntimeError(f"a plan starts with WATCH, not {argv[0]!r}")
    await pipe.watch(*argv[1:])
    reply: Any = None
    try:
        while True:
            argv = plan.send(reply)
            if isinstance(argv, list):
                reply = await pipelined_async(client, argv)
            else:
                reply = await pipe.execute_command(*argv)
    except StopIteration as stop:
        result: Body | None = stop.value
        return result


async def pipelined_async(client: Any, reads: Reads) -> list[Any]:
    """pipelined for async clients."""
    if not reads:
        return []
    pipe = client.pipeline(transaction=False)
    for argv in reads:
        pipe.execute_command(*argv)
    return list(await pipe.execute())
