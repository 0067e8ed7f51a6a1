"""`queuekit worker` drain throughput and queue wait, on a queuekit server and a redis-server.

Drain: 20,000 no-op jobs already queued (enqueue_many); the clock starts
when `queuekit worker benchmarks.bench_tasks --processes N` is launched and
stops when the queue's `succeeded` counter on the store reaches the count
(polled every 5 ms). The worker runs with every default a user gets:
registry, heartbeats, in-flight records, peak tracking, the JSON line per
job (to /dev/null here), the metrics endpoint. Medians of --rounds.

Wait: an open-loop producer enqueues one bench.wait job every 1/rate
seconds for --seconds, whatever the worker does; each job records how long
it waited (bench_tasks.py). p50, p99, max.

    python benchmarks/worker.py [--jobs 20000] [--rounds 3] [--concurrency 10,50]

Targets (issue 5), on the queuekit server: drain >= 6,000 jobs/s with one
process and >= 10,000 with two; wait p50 <= 1 ms and p99 <= 3 ms. The
worker processes, the server and this script share this machine's cores.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from servers import servers

from queuekit.connect import connect
from queuekit.jobs import JobClient, call

ROOT = Path(__file__).resolve().parent.parent
DRAIN_TARGETS = {1: 6_000, 2: 10_000}
WAIT_TARGETS_MS = (1.0, 3.0)  # p50, p99
STATS = "qk:{default}:stats"
POLL_S = 0.005


def start_worker(url: str, processes: int, concurrency: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "queuekit", "worker", "benchmarks.bench_tasks"]
    command += ["--processes", str(processes), "--concurrency", str(concurrency)]
    command += ["--metrics-port", "0"]  # metrics on, as the targets ask; any free port
    env = {**os.environ, "QUEUEKIT_URL": url, "QUEUEKIT_LOG_FORMAT": "json"}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(10)


def drain_rate(url: str, jobs: int, processes: int, concurrency: int) -> float:
    """Jobs/s from worker launch until `jobs` queued no-op jobs succeeded."""
    with connect(url) as store:
        store.execute(b"FLUSHALL")  # our private servers only
        client = JobClient(store)
        for first in range(0, jobs, 1000):
            client.enqueue_many([call("bench.noop", n) for n in range(first, first + 1000)])
        started = time.perf_counter()
        worker = start_worker(url, processes, concurrency)
        try:
            while int(store.execute(b"HGET", STATS, b"succeeded") or 0) < jobs:
                if worker.poll() is not None:
                    raise RuntimeError(f"queuekit worker exited with {worker.returncode}")
                time.sleep(POLL_S)
            elapsed = time.perf_counter() - started
        finally:
            stop_worker(worker)
        return jobs / elapsed


def waits_ms(url: str, rate: float, seconds: float, concurrency: int) -> list[float]:
    """Queue waits of an open-loop producer's jobs, in ms, sorted."""
    with connect(url) as store:
        store.execute(b"FLUSHALL")
        worker = start_worker(url, 1, concurrency)
        client = JobClient(store)
        try:
            client.enqueue("bench.noop", 0)  # the worker is up once this ran
            while int(store.execute(b"HGET", STATS, b"succeeded") or 0) < 1:
                time.sleep(POLL_S)
            count = int(rate * seconds)
            start = time.perf_counter()
            for n in range(count):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                client.enqueue("bench.wait", time.time())
            deadline = time.monotonic() + 60
            while store.execute(b"LLEN", b"bench:waits") < count and time.monotonic() < deadline:
                time.sleep(0.05)
            recorded = store.execute(b"LRANGE", b"bench:waits", 0, -1)
            waits = [float(value) * 1000 for value in recorded]
        finally:
            stop_worker(worker)
        return sorted(waits)


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(fraction * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="10,50", help="comma list (default 10,50)")
    parser.add_argument("--rate", type=float, default=200.0, help="wait test: jobs/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="wait test: duration")
    args = parser.parse_args()
    levels = [int(value) for value in args.concurrency.split(",")]
    with servers() as urls:
        print(f"drain: {args.jobs:,} queued no-op jobs, median of {args.rounds} rounds")
        print(f"{'store':<16} {'concurrency':>11} {'1 process':>10} {'2 processes':>12}")
        for name, url in urls.items():
            for concurrency in levels:
                cells = []
                for processes in (1, 2):
                    rates = [
                        drain_rate(url, args.jobs, processes, concurrency)
                        for _ in range(args.rounds)
                    ]
                    median = statistics.median(rates)
                    verdict = ""
                    if name == "queuekit server":
                        verdict = " ok" if median >= DRAIN_TARGETS[processes] else " MISS"
                    cells.append(f"{median:,.0f}{verdict}")
                print(f"{name:<16} {concurrency:>11} {cells[0]:>10} {cells[1]:>12}")
        load = f"{args.rate:.0f} jobs/s for {args.seconds:.0f} s"
        print(f"\nqueue wait: open loop, {load}, 1 process")
        print(f"{'store':<16} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  jobs")
        for name, url in urls.items():
            waits = waits_ms(url, args.rate, args.seconds, levels[0])
            p50, p99 = percentile(waits, 0.50), percentile(waits, 0.99)
            verdict = ""
            if name == "queuekit server":
                met = p50 <= WAIT_TARGETS_MS[0] and p99 <= WAIT_TARGETS_MS[1]
                verdict = "  ok" if met else "  MISS"
            print(f"{name:<16} {p50:>8.2f} {p99:>8.2f} {waits[-1]:>8.2f}  {len(waits)}{verdict}")


if __name__ == "__main__":
    main()
