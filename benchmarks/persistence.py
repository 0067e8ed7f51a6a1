"""Write throughput with the append-only file: queuekit beside redis-server, per fsync policy.

For each mode (appendfsync always, everysec, no, and no persistence) starts a
`queuekit server` and a redis-server with the same settings (servers.py:
each its own data directory in a temp directory, snapshots off), runs
`redis-benchmark -t set,lpush,rpop,incr -P 16 -c 50 -n N` against each,
alternating, several rounds, and prints the median ops/s per test, the mean
ratio queuekit/redis per mode, and the target of issue 7: with everysec,
>= 0.5x redis-server (the bar without persistence).

Then the same policies in process: RPUSH through `MemoryClient.execute` on
memory://NAME?dir=DIR&appendfsync=..., against a store without a directory,
each for a fixed time (an fsync per call makes `always` far slower).

    python benchmarks/persistence.py [--requests 200000] [--rounds 3] [--memory-seconds 2]

The servers, redis-benchmark and the disk are shared with the rest of this
machine; compare ratios within one run, never absolute figures across runs.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict

from servers import redis_benchmark, servers

from queuekit.client.memory import MemoryClient, MemoryStore
from queuekit.logs import configure_logging

TESTS = "set,lpush,rpop,incr"
# None: no persistence at all, the bar issue 3 set.
MODES: tuple[str | None, ...] = ("always", "everysec", "no", None)
TARGETS = {"everysec": 0.5, None: 0.5}
SERVERS = ("redis-server", "queuekit server")


def label(mode: str | None) -> str:
    return "no persistence" if mode is None else f"appendfsync {mode}"


def measure_servers(
    mode: str | None, requests: int, rounds: int
) -> dict[tuple[str, str], list[float]]:
    """ops/s samples by (server, test), both servers up, alternating each round."""
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    with servers(appendfsync=mode) as urls:
        for _ in range(rounds):
            for name in SERVERS:
                found = redis_benchmark(urls[name], TESTS, requests=requests, pipeline=16)
                for test, ops in found.items():
                    samples[(name, test)].append(ops)
    return samples


def print_mode(mode: str | None, samples: dict[tuple[str, str], list[float]]) -> float:
    """One mode's table: median ops/s per test and the ratios; the queuekit mean ops/s."""
    print(f"{label(mode):<22} {'test':<6} {'redis-server':>13} {'queuekit':>12} {'ratio':>7}")
    ratios, ours_all = [], []
    for test in sorted({test for _, test in samples}):
        redis = statistics.median(samples[("redis-server", test)])
        ours = statistics.median(samples.get(("queuekit server", test), [0.0]))
        ratios.append(ours / redis)
        ours_all.append(ours)
        print(f"{'':<22} {test:<6} {redis:>13,.0f} {ours:>12,.0f} {ours / redis:>6.2f}x")
    mean = statistics.mean(ratios)
    target = TARGETS.get(mode)
    verdict = ""
    if target is not None:
        verdict = f"  (target >= {target}x: {'meets' if mean >= target else 'below'})"
    print(f"{'':<22} {'mean':<6} {'':>13} {'':>12} {mean:>6.2f}x{verdict}\n")
    return statistics.mean(ours_all)


def memory_rate(directory: str | None, mode: str, seconds: float) -> float:
    """RPUSH calls per second on one in-process store, for `seconds`."""
    if directory is None:
        store = MemoryStore()
    else:
        store = MemoryStore(directory=directory, appendfsync=mode)
    client = MemoryClient(store)
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    try:
        while time.perf_counter() < deadline:
            for _ in range(100):
                client.execute(b"RPUSH", b"q", b"payload-of-32-bytes-............")
            calls += 100
        return calls / (time.perf_counter() - started)
    finally:
        store.close()


def print_memory(seconds: float) -> None:
    print(f"memory:// in process, RPUSH through MemoryClient.execute, {seconds:g} s each")
    print(f"{'mode':<22} {'calls/s':>12} {'vs no directory':>16}")
    workdir = tempfile.mkdtemp(prefix="queuekit-bench-")
    try:
        plain = memory_rate(None, "everysec", seconds)
        for mode in MODES:
            if mode is None:
                rate = plain
            else:
                rate = memory_rate(f"{workdir}/{uuid.uuid4().hex}", mode, seconds)
            print(f"{label(mode):<22} {rate:>12,.0f} {rate / plain:>15.2f}x")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-seconds", type=float, default=2.0)
    args = parser.parse_args()
    configure_logging(level=logging.WARNING)  # the stores' info lines would cut the tables
    if shutil.which("redis-server") is None or shutil.which("redis-benchmark") is None:
        sys.exit("needs redis-server and redis-benchmark (apt-get install redis-server)")
    print(
        f"redis-benchmark -t {TESTS} -P 16 -c 50 -n {args.requests}, median of "
        f"{args.rounds} alternating rounds (ops/s); data directories under "
        f"{tempfile.gettempdir()}\n"
    )
    queuekit = {
        mode: print_mode(mode, measure_servers(mode, args.requests, args.rounds)) for mode in MODES
    }
    # What the file itself costs the server, whatever its speed without one.
    print("queuekit server, mean ops/s per mode against its own without persistence")
    for mode, ops in queuekit.items():
        print(f"{label(mode):<22} {ops:>12,.0f} {ops / queuekit[None]:>6.2f}x")
    print()
    print_memory(args.memory_seconds)


if __name__ == "__main__":
    main()
