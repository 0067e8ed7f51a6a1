"""The queuekit server beside redis-server, measured by redis-benchmark in one run.

Starts both on free loopback ports, runs
`redis-benchmark -t lpush,rpop,sadd,incr,set,get -c 50 -n N` at -P 1 and at
-P 16 against each, alternating, several rounds, and prints the median ops/s
per test, the mean over the six tests, and the ratio queuekit/redis.
Targets (issue 3): >= 0.8x redis-server at -P 1, >= 0.5x at -P 16.

A third server runs beside them: minimal_server.py, the least Python server
redis-benchmark accepts (asyncio, hiredis, a dict). Its ratio is the ceiling
for Python on this machine: what queuekit's features cost is the distance
between the two, the rest is the language's.

    python benchmarks/server_vs_redis.py [--requests 200000] [--rounds 3]

redis-benchmark shares this machine's cores with both servers; compare the
ratios, not the absolute figures, and only within one run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from servers import free_port, redis_benchmark, wait_ready

TESTS = "lpush,rpop,sadd,incr,set,get"
SERVERS = ("redis", "queuekit", "minimal")
HERE = Path(__file__).resolve().parent


def start_servers() -> dict[str, tuple[int, subprocess.Popen[bytes]]]:
    workdir = tempfile.mkdtemp(prefix="queuekit-bench-")
    redis_port, queuekit_port = free_port(), free_port()
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    queuekit = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "queuekit",
            "server",
            "--port",
            str(queuekit_port),
            "--log-format",
            "json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    minimal_port = free_port()
    minimal = subprocess.Popen(
        [sys.executable, str(HERE / "minimal_server.py"), str(minimal_port)],
        stdout=subprocess.DEVNULL,
    )
    servers = {
        "redis": (redis_port, redis),
        "queuekit": (queuekit_port, queuekit),
        "minimal": (minimal_port, minimal),
    }
    try:
        for port, process in servers.values():
            wait_ready(port, process)
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: dict[str, tuple[int, subprocess.Popen[bytes]]]) -> None:
    for _, process in servers.values():
        process.terminate()
        process.wait(10)


def run_benchmark(port: int, pipeline: int, requests: int) -> dict[str, float]:
    url = f"redis://127.0.0.1:{port}/0"
    return redis_benchmark(url, TESTS, requests=requests, pipeline=pipeline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("redis-server") is None or shutil.which("redis-benchmark") is None:
        sys.exit("needs redis-server and redis-benchmark (apt-get install redis-server)")
    servers = start_servers()
    samples: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    try:
        for _ in range(args.rounds):
            for pipeline in (1, 16):
                for name in SERVERS:  # alternate within each round
                    port = servers[name][0]
                    for test, ops in run_benchmark(port, pipeline, args.requests).items():
                        samples[(name, pipeline, test)].append(ops)
    finally:
        stop_servers(servers)
    print(
        f"redis-benchmark -t {TESTS} -c 50 -n {args.requests}, "
        f"median of {args.rounds} alternating rounds (ops/s)\n"
    )
    for pipeline, target in ((1, 0.8), (16, 0.5)):
        print(
            f"-P {pipeline:<2}  {'test':<8} {'redis':>12} {'queuekit':>12} {'ratio':>7}"
            f" {'minimal':>12} {'ratio':>7}"
        )
        ratios: dict[str, list[float]] = defaultdict(list)
        tests = sorted({t for (n, p, t) in samples if p == pipeline})
        for test in tests:
            redis = statistics.median(samples[("redis", pipeline, test)])
            row = f"      {test:<8} {redis:>12,.0f}"
            for name in SERVERS[1:]:
                ops = statistics.median(samples.get((name, pipeline, test), [0.0]))
                ratios[name].append(ops / redis)
                row += f" {ops:>12,.0f} {ops / redis:>6.2f}x"
            print(row)
        ours, ceiling = (statistics.mean(ratios[name]) for name in SERVERS[1:])
        verdict = "meets" if ours >= target else "below"
        print(
            f"      {'mean':<8} {'':>12} {'':>12} {ours:>6.2f}x {'':>12} {ceiling:>6.2f}x"
            f"  (target >= {target}x: {verdict})\n"
        )


if __name__ == "__main__":
    main()
