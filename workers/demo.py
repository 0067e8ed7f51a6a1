"""The tasks `queuekit demo` runs, and the mix of jobs it enqueues: a small shop's back office.

    queuekit demo                         # enqueues mix(1000, run) and runs it on 2 processes
    queuekit worker workers.demo          # or serve these tasks yourself

Every task lives on the queue "demo" and shows one feature:

    demo.resize_image     fast: the bulk of the jobs
    demo.render_report    slow: 0.2 to 0.5 s of async sleep
    demo.charge_card      flaky: its first attempt fails, the retry succeeds
    demo.send_welcome     deduplicated: one welcome mail per customer (a dedup window)
    demo.sync_partner     rate-limited: at most 20 starts a second, over every worker
    demo.send_reminder    delayed: enqueued with _delay, runs 1 to 2 s later

Rules:
1. `mix(jobs, run)` is deterministic: the same arguments give the same calls
   in the same order, so the counts can be asserted on. `run` names this run
   in dedup keys and attempt counters, so two runs on one store stay apart.
2. charge_card counts its attempts on the store (INCR of an app key named by
   its argument, with a TTL), as app code would: it connects to QUEUEKIT_URL,
   which `queuekit demo` sets for its worker processes.
3. The rate-limited burst is enqueued in one batch of at least
   RATE_BURST_MIN jobs, more than two windows allow, so it always meets its
   limit, however slowly the machine runs.
"""

from __future__ import annotations

import asyncio
import atexit
import random
import threading
from typing import Any

from queuekit import connect
from queuekit.jobs import Call, TaskSet, call

QUEUE = "demo"
RATE_LIMIT_PER_S = 20
RATE_BURST_MIN = 2 * RATE_LIMIT_PER_S + 10  # rule 3: over two windows' worth
MIN_JOBS = 100  # below this, some kinds would have no job at all
BATCH = 100  # calls per enqueue_many: one round trip each
ATTEMPTS_TTL_S = 3600  # charge_card's attempt counters outlive any retry
SEED = 6  # the shuffle of the mix (rule 1)

tasks = TaskSet()


class GatewayTimeoutError(Exception):
    """Raised when the (pretend) payment gateway times out: charge_card's first attempt."""


@tasks.task(name="demo.resize_image", queue=QUEUE)
async def resize_image(image_id: int, width: int = 320) -> str:
    """Fast: make a thumbnail."""
    return f"image {image_id} at {width}px"


@tasks.task(name="demo.render_report", queue=QUEUE)
async def render_report(report_id: int, seconds: float) -> str:
    """Slow: render a report, 0.2 to 0.5 s."""
    await asyncio.sleep(seconds)
    return f"report {report_id} rendered in {seconds:g} s"


@tasks.task(name="demo.charge_card", queue=QUEUE, retries=3, backoff=0.2)
def charge_card(order: str) -> str:
    """Flaky: the first attempt times out, the retry succeeds."""
    key = f"demo:attempts:{order}"
    with _store().pipeline(transaction=True) as pipe:
        pipe.incr(key).expire(key, ATTEMPTS_TTL_S)
        attempt, _ = pipe.execute()
    if attempt == 1:
        raise GatewayTimeoutError(f"payment gateway timed out charging order {order}")
    return f"order {order} charged on attempt {attempt}"


@tasks.task(name="demo.send_welcome", queue=QUEUE, dedup=3600.0)
async def send_welcome(customer: int) -> str:
    """Deduplicated: one welcome mail per customer an hour."""
    return f"welcome mail sent to customer {customer}"


@tasks.task(name="demo.sync_partner", queue=QUEUE, rate_limit=f"{RATE_LIMIT_PER_S}/s")
async def sync_partner(account: int) -> str:
    """Rate-limited: 20 calls a second to a partner's API, over all workers."""
    return f"account {account} synced"


@tasks.task(name="demo.send_reminder", queue=QUEUE)
async def send_reminder(customer: int) -> str:
    """Delayed: enqueued to run 1 to 2 s later."""
    return f"reminder sent to customer {customer}"


def mix(jobs: int, run: str) -> list[list[Call]]:
    """The demo's `jobs` enqueue calls, in batches to enqueue one after the other (rule 1).

    Of every 100 calls about: 5 slow, 5 flaky, 5 delayed, 10 welcome mails
    and 10 more asking again for the same customers (refused by dedup), 10
    rate-limited (at least RATE_BURST_MIN, in a batch of their own), the rest fast.
    """
    if jobs < MIN_JOBS:
        raise ValueError(f"jobs {jobs} must be at least {MIN_JOBS}, so every kind of job is in")
    fifth, tenth = jobs // 20, jobs // 10
    rated = max(tenth, RATE_BURST_MIN)
    rng = random.Random(SEED)
    welcome = [call(send_welcome, c, _dedup_key=f"welcome:{run}:{c}") for c in range(tenth)]
    calls: list[Call] = [
        *(call(render_report, n, 0.2 + 0.1 * (n % 4)) for n in range(fifth)),
        *(call(charge_card, f"{run}:{n}") for n in range(fifth)),
        *(call(send_reminder, n, _delay=1.0 + 0.5 * (n % 3)) for n in range(fifth)),
        *welcome,
        *(call(resize_image, n) for n in range(jobs - rated - 3 * fifth - 2 * tenth)),
    ]
    rng.shuffle(calls)
    # The same welcome calls again, after their originals, as a customer clicking twice.
    plain = calls + welcome
    batches = [plain[start : start + BATCH] for start in range(0, len(plain), BATCH)]
    burst = [call(sync_partner, n) for n in range(rated)]
    return [burst, *batches]  # rule 3: the burst first, in one batch


_client: Any = None
_client_lock = threading.Lock()


def _store() -> Any:
    """This process's client of the store at QUEUEKIT_URL (rule 2), made on first use.

    Sync tasks run in a pool of threads; a network client is safe to share
    between them, so one per process is enough. It is closed when the process
    exits, so no connection is left for the garbage collector to find.
    """
    global _client
    with _client_lock:
        if _client is None:
            _client = connect(tasks.url)
            atexit.register(_client.close)
        return _client
