"""Enqueue throughput, one at a time and with enqueue_many, on each store.

A no-op task with one small int argument, enqueued by one producer through
JobClient on memory://, a queuekit server (`python -m queuekit server`, a
subprocess) and a redis-server, both on free loopback ports. Prints jobs/s
beside the targets of issue 4:

    TCP one at a time  >= 5,000 jobs/s   (one round trip each: MULTI/HSET/LPUSH/HINCRBY/EXEC)
    enqueue_many       >= 50,000 jobs/s  (one pipeline per batch)
    memory:// one at a time >= 50,000 jobs/s

    python benchmarks/enqueue.py [--jobs 20000] [--batch 1000]

The producer, the server and redis-server share this machine's cores; compare
figures within one run.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

from servers import servers

from queuekit.connect import connect
from queuekit.jobs import JobClient, call

TARGETS = {("tcp", "one"): 5_000, ("tcp", "many"): 50_000, ("memory", "one"): 50_000}


def rate(count: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def measure(url: str, jobs: int, batch: int) -> tuple[float, float]:
    """(one at a time, enqueue_many) jobs/s on the store at `url`."""
    with connect(url) as store:
        client = JobClient(store)
        client.enqueue("bench.noop", 0)  # connect and announce the queue first

        def one() -> None:
            for n in range(jobs):
                client.enqueue("bench.noop", n)

        def many() -> None:
            for start in range(0, jobs, batch):
                client.enqueue_many([call("bench.noop", n) for n in range(start, start + batch)])

        one_rate = rate(jobs, one)
        many_rate = rate(jobs, many)
        if not url.startswith("memory:"):
            store.execute(b"FLUSHALL")  # our private servers only
        return one_rate, many_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    rows = [
        (
            "memory://",
            "memory",
            measure(f"memory://bench-{uuid.uuid4().hex}", args.jobs, args.batch),
        )
    ]
    with servers() as urls:
        rows += [(name, "tcp", measure(url, args.jobs, args.batch)) for name, url in urls.items()]
    print(f"enqueue throughput, jobs/s ({args.jobs} jobs, batches of {args.batch})\n")
    print(f"{'store':<18}{'one at a time':>15}{'target':>9}{'enqueue_many':>15}{'target':>9}")
    for name, kind, (one, many) in rows:
        one_target = TARGETS.get((kind, "one"))
        many_target = TARGETS.get((kind, "many"))
        print(
            f"{name:<18}{one:>15,.0f}{_target(one, one_target):>9}"
            f"{many:>15,.0f}{_target(many, many_target):>9}"
        )


def _target(value: float, target: int | None) -> str:
    if target is None:
        return "-"
    return f"{'ok' if value >= target else 'MISS'} {target // 1000}k"


if __name__ == "__main__":
    main()
