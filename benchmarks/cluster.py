"""`queuekit worker` drain throughput on one store and on a 3-primary Redis Cluster.

The drain of benchmarks/worker.py, side by side on the queuekit server, one
redis-server and a Redis Cluster of 3 primaries (each with a replica): --jobs
no-op jobs already queued (enqueue_many), `queuekit worker benchmarks.bench_tasks
--processes N` launched, the clock stopped when the queues' `succeeded`
counters reach the count (polled every 5 ms). Medians of --rounds, for 1, 2
and 4 worker processes.

A queue is one slot, so one queue keeps one shard of the cluster busy while
the other two idle. The rows with --queues queues (3 by default, picked so
that each lands on a different primary) spread the same jobs over the
shards; every worker process serves all of them, in order, which on the
cluster means one queue at a time (worker/fetch.py).

    python benchmarks/cluster.py [--jobs 20000] [--rounds 3] [--processes 1,2,4]

Both stores, their replicas (one per primary, as the tests run them), the
worker processes and this script share this machine's cores: compare figures
within one run, not with another machine's.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from servers import servers
from worker import POLL_S, start_worker, stop_worker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' helpers start the stores

from queuekit.connect import connect  # noqa: E402
from queuekit.jobs import JobClient, call  # noqa: E402
from queuekit.jobs.keys import queue_keys  # noqa: E402
from tests.support.redis_cluster import LocalCluster, start_cluster  # noqa: E402

BATCH = 1000  # jobs per enqueue_many
Flush = Callable[[], None]


def spread_queues(cluster: LocalCluster, count: int) -> list[str]:
    """`count` queue names whose slots are served by different primaries, when the
    cluster has that many (else as many as it has, then any)."""
    chosen: dict[int, str] = {}
    for n in range(10_000):
        name = f"q{n}"
        chosen.setdefault(cluster.primary_for(queue_keys(name).stats), name)
        if len(chosen) == count:
            break
    return list(chosen.values())


def drain_rate(
    url: str,
    flush: Flush,
    queues: list[str],
    jobs: int,
    processes: int,
    concurrency: int,
) -> float:
    """Jobs/s from worker launch until `jobs` queued no-op jobs, spread round-robin
    over `queues`, succeeded."""
    flush()
    with connect(url) as store:
        client = JobClient(store)
        for first in range(0, jobs, BATCH):
            client.enqueue_many(
                call("bench.noop", n, _queue=queues[n % len(queues)])
                for n in range(first, first + BATCH)
            )
        stats = [queue_keys(queue).stats for queue in queues]
        os.environ["QUEUEKIT_QUEUES"] = ",".join(queues)  # start_worker passes it on
        started = time.perf_counter()
        worker = start_worker(url, processes, concurrency)
        try:
            while succeeded(store, stats) < jobs:
                if worker.poll() is not None:
                    raise RuntimeError(f"queuekit worker exited with {worker.returncode}")
                time.sleep(POLL_S)
            elapsed = time.perf_counter() - started
        finally:
            stop_worker(worker)
        return jobs / elapsed


def succeeded(store: Any, stats: list[bytes]) -> int:
    """The queues' `succeeded` counters, summed (one pipeline over their slots)."""
    pipe = store.pipeline(transaction=False)
    for key in stats:
        pipe.execute_command(b"HGET", key, b"succeeded")
    return sum(int(value or 0) for value in pipe.execute())


@contextmanager
def stores() -> Iterator[tuple[dict[str, tuple[str, Flush]], LocalCluster]]:
    """The queuekit server, a redis-server and a cluster: {name: (url, flush)}, and the
    cluster itself."""
    with servers() as urls:
        cluster = start_cluster()
        try:
            named: dict[str, tuple[str, Flush]] = {
                name: (url, functools.partial(flushall, url)) for name, url in urls.items()
            }
            named["cluster"] = (cluster.url, cluster.flushall)
            yield named, cluster
        finally:
            cluster.stop()


def flushall(url: str) -> None:
    with connect(url) as client:
        client.execute(b"FLUSHALL")  # our private servers only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", default="1,2,4", help="comma list (default 1,2,4)")
    parser.add_argument("--queues", type=int, default=3, help="queues of the spread rows")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    levels = [int(value) for value in args.processes.split(",")]
    with stores() as (urls, cluster):
        layouts = {"1 queue": ["q0"], f"{args.queues} queues": spread_queues(cluster, args.queues)}
        print(
            f"drain: {args.jobs:,} queued no-op jobs, concurrency {args.concurrency}, "
            f"median of {args.rounds} rounds, jobs/s"
        )
        header = "".join(f"{f'{n} proc':>10}" for n in levels)
        print(f"{'store':<16} {'queues':<10}{header}")
        for layout, queues in layouts.items():
            for name, (url, flush) in urls.items():
                cells = []
                for processes in levels:
                    rates = [
                        drain_rate(url, flush, queues, args.jobs, processes, args.concurrency)
                        for _ in range(args.rounds)
                    ]
                    cells.append(f"{statistics.median(rates):>10,.0f}")
                print(f"{name:<16} {layout:<10}" + "".join(cells), flush=True)
        print(f"\nqueues of the spread rows: {', '.join(layouts[f'{args.queues} queues'])}")


if __name__ == "__main__":
    main()
