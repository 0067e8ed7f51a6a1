"""A cache with a TTL: GET, and on a miss load the value and SET it with an expiry.

The idiom: a string (the cached value) + an atomic SET ... PX (value and TTL
in one command) + the TTL, so the store forgets stale entries by itself and
there is no cleanup code:

    GET user:123:profile             -> hit: return it
                                     -> miss: query the database,
    SET user:123:profile <v> PX <ms>    cache it for a while, return it

The TTL here is 300 ms so the script can show an entry expiring; a real
cache would keep a profile for minutes (SET ... EX 300).

    python examples/cache.py                          # the embedded store
    python examples/cache.py --url redis://127.0.0.1:6390/0
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import queuekit

TTL_MS = 300  # short, so the entry expires while you watch
EXPIRY_WAIT_S = 10.0  # the most we wait for the store to forget the entry
KEY = "example:cache:user:123:profile"

database_queries = 0


def query_database(user_id: int) -> str:
    """The slow source of truth the cache sits in front of."""
    global database_queries
    database_queries += 1
    return f"profile of user {user_id}"


def get_profile(store: Any, user_id: int) -> str:
    cached: bytes | None = store.get(KEY)
    if cached is not None:
        print(f"GET {KEY} -> hit: {cached.decode()!r}")
        return cached.decode()
    profile = query_database(user_id)
    store.set(KEY, profile, px=TTL_MS)  # value and TTL in one atomic command
    print(f"GET {KEY} -> miss: loaded from the database, SET ... PX {TTL_MS}")
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="memory://", help="store URL (default: memory://)")
    store = queuekit.connect(parser.parse_args().url)
    store.delete(KEY)  # start cold, even on a store used before

    get_profile(store, 123)  # miss: the database is queried
    get_profile(store, 123)  # hit: the database is not
    ttl_ms = store.pttl(KEY)
    print(f"the entry expires by itself: 0 < PTTL <= {TTL_MS} ms -> {0 < ttl_ms <= TTL_MS}")

    deadline = time.monotonic() + EXPIRY_WAIT_S
    while store.exists(KEY) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"after its TTL the entry is gone: EXISTS {KEY} -> {store.exists(KEY)}")

    get_profile(store, 123)  # miss again: the database is queried once more
    print(f"3 lookups, {database_queries} database queries")


if __name__ == "__main__":
    main()
