"""Metrics overhead: ns per job of the hooks a worker calls, started() + finished().

Each mode runs in a fresh interpreter, because prometheus_client picks
in-process or multiprocess values once, when it is first imported:

    off             NullMetrics (metrics disabled)
    in-process      JobMetrics on in-memory values (a single process)
    multiprocess    JobMetrics writing to mmap'ed files in PROMETHEUS_MULTIPROC_DIR,
                    as in a worker process of a supervisor serving /metrics

Each figure is the median over the rounds of one started()+finished() pair
(a counter, two histogram observations, a gauge up and down). For scale:
the worker targets of issue 5 (6,000-10,000 jobs/s per process) leave about
100-170 µs per job for everything.

Run: python benchmarks/metrics_overhead.py [--jobs 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MODES = ("off", "in-process", "multiprocess")


def measure(mode: str, jobs: int, rounds: int) -> float:
    """Median ns per started()+finished() pair in this process (child side)."""
    from queuekit.metrics import JobMetrics, NullMetrics

    metrics = NullMetrics() if mode == "off" else JobMetrics()
    started, finished = metrics.started, metrics.finished
    figures = []
    for _ in range(rounds):
        begin = time.perf_counter_ns()
        for _ in range(jobs):
            started("default", "app.task", 0.0012)
            finished("default", "app.task", "success", 0.0034)
        figures.append((time.perf_counter_ns() - begin) / jobs)
    return statistics.median(figures)


def run_child(mode: str, jobs: int, rounds: int) -> float:
    """measure() in a fresh interpreter, with the multiprocess folder set when asked."""
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    folder = tempfile.mkdtemp(prefix="qk-metrics-bench-") if mode == "multiprocess" else None
    if folder is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        command = [sys.executable, __file__, "--child", mode]
        command += ["--jobs", str(jobs), "--rounds", str(rounds)]
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        return float(out.stdout.strip())
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000, help="pairs per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(measure(args.child, args.jobs, args.rounds))
        return
    print(f"{'metrics':<14}{'ns per job':>12}{'jobs/s of hooks alone':>24}")
    for mode in MODES:
        ns = run_child(mode, args.jobs, args.rounds)
        print(f"{mode:<14}{ns:>12,.0f}{1e9 / ns:>24,.0f}")


if __name__ == "__main__":
    main()
