"""A fixed-window rate limiter: INCR a counter per user, and let its TTL end the window.

The idiom: a string counter + an atomic INCR + a TTL that resets it. The seed
document's version is

    count = INCR ratelimit:user:123
    if count == 1: EXPIRE ratelimit:user:123 60
    if count > 100: reject

A client that dies between that INCR and EXPIRE leaves a counter with no TTL,
which refuses the user forever. So here both go in one MULTI/EXEC, and the
expiry is PEXPIRE ... NX (Redis 7: set a TTL only if the key has none), which
is "only on the first hit" of a window, in a single round trip. Concurrent
requests need no lock: INCR numbers them one by one.

The window is 300 ms here so the script can show it resetting; a real limit
would be "100 per 60 s".

    python examples/rate_limit.py                     # the embedded store
    python examples/rate_limit.py --url redis://127.0.0.1:6390/0
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import queuekit

LIMIT = 5  # requests allowed per window
WINDOW_MS = 300
RESET_WAIT_S = 10.0  # the most we wait for the window to end
KEY = "example:ratelimit:user:123"


def allow(store: Any) -> tuple[bool, int]:
    """Count one request in the current window; whether it is within the limit."""
    with store.pipeline(transaction=True) as pipe:
        pipe.incr(KEY)
        # NX: only the window's first hit sets the TTL; later hits leave it running.
        pipe.execute_command("PEXPIRE", KEY, WINDOW_MS, "NX")
        count, _ = pipe.execute()
    return count <= LIMIT, count


def request(store: Any, number: int) -> None:
    allowed, count = allow(store)
    verdict = "allowed" if allowed else "rejected"
    print(f"request {number}: INCR {KEY} -> {count}, {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="memory://", help="store URL (default: memory://)")
    store = queuekit.connect(parser.parse_args().url)
    store.delete(KEY)  # a fresh window, even on a store used before

    print(f"limit: {LIMIT} requests per {WINDOW_MS} ms window")
    for number in range(1, LIMIT + 3):
        request(store, number)

    deadline = time.monotonic() + RESET_WAIT_S
    while store.exists(KEY) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("the window's TTL ran out: the counter is gone")
    request(store, LIMIT + 3)


if __name__ == "__main__":
    main()
