"""`queuekit tour`: a short tour of the embedded store, one queue idiom a step.

Each step is one "data structure + atomic operation + TTL" use that the job
layer is built from: a queue, dedup, a rate limit, a lock, a schedule, a
leaderboard, a TTL, a transaction. The store is an in-process memory:// store
whose engine reads a FakeClock, so every TTL runs out without a sleep.
Every command here is a Redis 7 command and answers exactly as Redis would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from queuekit.client.memory import AsyncMemoryClient, MemoryClient, MemoryStore
from queuekit.engine.clock import FakeClock
from queuekit.errors import WatchError

Say = Callable[[str], object]

RATE_LIMIT = 3  # requests per window
RATE_WINDOW_S = 10
LOCK_TTL_MS = 30_000
SCHEDULE = {"cleanup": 5, "retry:order-7": 30, "digest": 60}  # job -> due in seconds
LABEL_WIDTH = 13


def step(say: Say, label: str, text: str) -> None:
    """One line of the tour: the step's name in a column, then what happened."""
    say(f"{label:<{LABEL_WIDTH}}{text}")


def show(reply: Any) -> str:
    """A reply as a person reads it: bytes decoded, None as nil, lists spaced."""
    if isinstance(reply, bytes):
        return reply.decode()
    if isinstance(reply, list):
        return "[" + ", ".join(map(show, reply)) + "]"
    return "nil" if reply is None else str(reply)


def run_tour(say: Say = print) -> None:
    """Run every step on a fresh store, printing a line or two per step."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    client = MemoryClient(store)
    say("queuekit tour: the embedded store (memory://), on a fake clock so nothing sleeps\n")
    try:
        queue(client, store, say)
        dedup(client, say)
        rate_limit(client, clock, say)
        lock(client, clock, say)
        schedule_and_leaderboard(client, clock, say)
        expiring_counter(client, clock, say)
        transaction(client, say)
        db = store.engine.db
        say(f"\n{len(db.data)} keys left, used_memory {db.used_memory:,} bytes (INFO's estimate)")
    finally:
        store.close()


def queue(client: MemoryClient, store: MemoryStore, say: Say) -> None:
    pushed = client.lpush("emails", "welcome:ada", "welcome:bob", "receipt:7")
    _, first = client.brpop("emails", timeout=1)
    step(say, "queue", f"LPUSH emails welcome:ada welcome:bob receipt:7 -> {pushed} waiting")
    step(say, "", f"BRPOP emails 1 -> {show(first)} (first in, first out)")
    _, handed = asyncio.run(_blocked_worker(store))
    step(say, "", f"a worker parked in BRPOP reports 0 is handed {show(handed)} once pushed")


async def _blocked_worker(store: MemoryStore) -> Any:
    client = AsyncMemoryClient(store)
    worker = asyncio.create_task(client.brpop("reports", timeout=0))
    await asyncio.sleep(0)  # the worker runs until it parks on the empty list
    await client.lpush("reports", "report:q3")
    return await worker


def dedup(client: MemoryClient, say: Say) -> None:
    added = [client.sadd("seen:orders", order) for order in ("order-7", "order-8", "order-7")]
    step(say, "dedup", f"SADD seen:orders order-7, order-8, order-7 -> {show(added)}")


def _allowed(client: MemoryClient, user: str) -> bool:
    """A fixed-window rate limit: the first hit of a window starts its TTL."""
    key = f"rate:{user}"
    hits: int = client.incr(key)
    if hits == 1:
        client.expire(key, RATE_WINDOW_S)
    return hits <= RATE_LIMIT


def rate_limit(client: MemoryClient, clock: FakeClock, say: Say) -> None:
    verdicts = ["ok" if _allowed(client, "ada") else "refused" for _ in range(5)]
    clock.advance(RATE_WINDOW_S + 1)
    later = "ok" if _allowed(client, "ada") else "refused"
    rule = f"INCR rate:ada (+ EXPIRE {RATE_WINDOW_S} on the first), limit {RATE_LIMIT}"
    step(say, "rate limit", rule)
    step(say, "", f"5 requests -> {' '.join(verdicts)}; {RATE_WINDOW_S + 1} s later -> {later}")


def lock(client: MemoryClient, clock: FakeClock, say: Say) -> None:
    key = "lock:invoice-7"
    first = client.set(key, "worker-1", nx=True, px=LOCK_TTL_MS)
    second = client.set(key, "worker-2", nx=True, px=LOCK_TTL_MS)
    clock.advance(LOCK_TTL_MS / 1000 + 1)
    after = client.set(key, "worker-2", nx=True, px=LOCK_TTL_MS)
    step(say, "lock", f"SET {key} worker-1 NX PX {LOCK_TTL_MS} -> {show(first)}")
    step(say, "", f"worker-2 -> {show(second)} (held); 31 s later it has lapsed -> {show(after)}")


def schedule_and_leaderboard(client: MemoryClient, clock: FakeClock, say: Say) -> None:
    now_s = clock.now_ms() // 1000
    client.zadd("schedule", {job: now_s + due_in for job, due_in in SCHEDULE.items()})
    clock.advance(31)
    due = client.execute("ZRANGE", "schedule", "-inf", clock.now_ms() // 1000, "BYSCORE")
    jobs = ", ".join(f"{job} +{due_in}s" for job, due_in in SCHEDULE.items())
    step(say, "schedule", f"ZADD schedule <due time> <job>: {jobs}")
    step(say, "", f"31 s later ZRANGE schedule -inf <now> BYSCORE -> {show(due)}")
    client.zadd("jobs-done", {"worker-a": 12, "worker-b": 31, "worker-c": 7})
    top = client.execute("ZRANGE", "jobs-done", 0, 1, "REV", "WITHSCORES")
    ranked = ", ".join(f"{show(member)} {score:g}" for member, score in top)
    step(say, "leaderboard", f"ZADD jobs-done 12 worker-a 31 worker-b 7 worker-c; top 2: {ranked}")


def expiring_counter(client: MemoryClient, clock: FakeClock, say: Say) -> None:
    client.incr("visits")
    client.incr("visits")
    client.expire("visits", 60)
    ttl = client.ttl("visits")
    clock.advance(61)
    gone = client.get("visits")
    step(say, "ttl", f"INCR visits twice, EXPIRE visits 60 -> TTL {ttl} s")
    step(say, "", f"the clock moves 61 s -> GET visits -> {show(gone)} (expired; nothing slept)")


def _reserve(client: MemoryClient, *, interfere: bool) -> list[Any]:
    """Take one widget from stock and record the order, or nothing if stock moved."""
    with client.pipeline() as pipe:
        pipe.watch("stock:widget")
        stock = int(pipe.get("stock:widget"))
        if interfere:
            client.decr("stock:widget")  # another client sells one in between
        pipe.multi()
        pipe.set("stock:widget", stock - 1).rpush("orders", "order-9")
        replies: list[Any] = pipe.execute()
        return replies


def transaction(client: MemoryClient, say: Say) -> None:
    client.set("stock:widget", 3)
    try:
        _reserve(client, interfere=True)
        outcome = "ran"
    except WatchError:
        outcome = "aborted, nothing ran"
    replies = _reserve(client, interfere=False)
    stock = show(client.get("stock:widget"))
    step(say, "transaction", "WATCH stock:widget, GET -> 3; another client DECRs it")
    step(say, "", f"MULTI, SET stock:widget 2, RPUSH orders order-9, EXEC -> {outcome}")
    step(say, "", f"retried with the new stock -> EXEC {show(replies)}; stock is now {stock}")
