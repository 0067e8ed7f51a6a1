"""Peak concurrency: how many users were online at once, exactly, with no lost update.

The idiom: a string counter (INCR on connect, DECR on disconnect) + a sorted
set that keeps the high-water mark with ZADD ... GT (Redis 6.2+: update the
score only if the new one is greater). Each command is atomic, so the peak is
exact however many servers report at once.

The seed document's version reads the peak and writes it back:

    current = INCR concurrent_users
    peak = GET peak_users
    if current > peak: SET peak_users current

Two servers can both read peak 4, and the one that writes 5 last overwrites
the other's 6: the peak is lost. ZADD GT does the compare and the write in
one command, so that cannot happen. (A real app would key the peak per day
and give it a TTL, so old days clean themselves up.)

Eight user threads connect at once (a barrier holds each one online until all
eight are), then three more: the peak is exactly 8.

    python examples/peak_concurrency.py               # the embedded store
    python examples/peak_concurrency.py --url redis://127.0.0.1:6390/0
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

import queuekit

ONLINE = "example:concurrency:online"
PEAK = "example:concurrency:peak"  # sorted set: member "users", score = the peak
BARRIER_TIMEOUT_S = 30.0  # how long a user waits for the others before giving up


def user_session(store: Any, together: threading.Barrier) -> None:
    """Connect, stay online until every user of the wave is, then disconnect."""
    current = store.incr(ONLINE)
    store.zadd(PEAK, {"users": current}, gt=True)  # raise the peak, never lower it
    together.wait(BARRIER_TIMEOUT_S)
    store.decr(ONLINE)


def wave(store: Any, users: int) -> None:
    together = threading.Barrier(users)
    threads = [threading.Thread(target=user_session, args=(store, together)) for _ in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = int(store.zscore(PEAK, "users"))
    online = int(store.get(ONLINE))
    print(f"{users} users connected at once, then left: online now {online}, peak {peak}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="memory://", help="store URL (default: memory://)")
    store = queuekit.connect(parser.parse_args().url)
    store.delete(ONLINE, PEAK)

    wave(store, 8)  # the peak: 8
    wave(store, 3)  # a smaller wave does not lower it
    print(f"ZSCORE {PEAK} users -> {int(store.zscore(PEAK, 'users'))}")


if __name__ == "__main__":
    main()
