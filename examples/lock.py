"""A distributed lock: SET NX with a TTL to take it, released only by its owner.

The idiom: a string whose value names the owner + an atomic SET ... NX (set
only if nobody holds it) + a TTL, so a holder that crashes cannot keep the
lock forever:

    SET lock:job_xyz <owner token> NX PX 30000    -> OK: yours; nil: someone else's

Releasing must not delete a lock someone else now holds (yours may have
expired and been taken meanwhile), so it compares, then deletes. With no Lua
scripts, WATCH makes the pair atomic: GET under WATCH, and if the token is
ours, MULTI DEL EXEC, which runs nothing if the key changed in between.
One store, one lock: Redlock (several stores) is beyond this example.

    python examples/lock.py                           # the embedded store
    python examples/lock.py --url redis://127.0.0.1:6390/0
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

import queuekit

KEY = "example:lock:job_xyz"
LOCK_TTL_MS = 30_000  # longer than the job; only a crashed holder hits it
SHORT_TTL_MS = 200  # for the crashed holder below, so the script need not wait 30 s
EXPIRY_WAIT_S = 10.0


def acquire(store: Any, owner: str, ttl_ms: int = LOCK_TTL_MS) -> str | None:
    """Take the lock; a token only this holder knows, or None if it is held."""
    token = f"{owner}:{uuid.uuid4().hex}"
    return token if store.set(KEY, token, nx=True, px=ttl_ms) else None


def release(store: Any, token: str) -> bool:
    """Delete the lock if `token` still holds it; whether it did."""
    with store.pipeline() as pipe:
        while True:
            pipe.watch(KEY)
            if pipe.get(KEY) != token.encode():
                pipe.unwatch()
                return False  # expired, or someone else's now
            pipe.multi()
            pipe.delete(KEY)
            try:
                pipe.execute()
                return True
            except queuekit.WatchError:
                continue  # the key changed after our GET: look again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="memory://", help="store URL (default: memory://)")
    store = queuekit.connect(parser.parse_args().url)
    store.delete(KEY)

    token_a = acquire(store, "server-A")
    print(f"server-A: SET {KEY} NX PX {LOCK_TTL_MS} -> {'acquired' if token_a else 'held'}")
    token_b = acquire(store, "server-B")
    print(f"server-B: SET {KEY} NX PX {LOCK_TTL_MS} -> {'acquired' if token_b else 'held'}")
    assert token_a is not None and token_b is None
    print(f"server-B tries to release A's lock -> {release(store, 'server-B:not-a-token')}")
    print(f"server-A releases with its token -> {release(store, token_a)}")
    print(f"server-A releases again -> {release(store, token_a)}")

    token_c = acquire(store, "server-C", ttl_ms=SHORT_TTL_MS)
    print(f"server-C takes the lock for {SHORT_TTL_MS} ms, then crashes without releasing")
    deadline = time.monotonic() + EXPIRY_WAIT_S
    while store.exists(KEY) and time.monotonic() < deadline:
        time.sleep(0.05)
    token_b = acquire(store, "server-B")
    print(f"after the TTL, server-B -> {'acquired' if token_b else 'held'}")
    assert token_c is not None and token_b is not None
    print(f"server-C, back, releases -> {release(store, token_c)} (not its lock any more)")
    print(f"server-B releases -> {release(store, token_b)}")


if __name__ == "__main__":
    main()
