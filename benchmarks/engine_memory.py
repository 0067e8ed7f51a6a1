"""Engine memory: bytes per element as real RSS growth, beside bare Python containers.

Each measurement runs in a fresh interpreter (`--measure KIND`), which reads its
resident set size from /proc/self/statm before and after filling the store and
prints one JSON line; the parent runs every kind `--runs` times and prints medians.

    engine-list    1,000,000 items of 100 bytes, RPUSHed in batches onto one key
    deque          the same items appended to a bare collections.deque
    engine-keys    1,000,000 string keys: SET k:<i> v:<i>
    dict           the same keys and values in a bare dict

Every item, key and value is made inside the measured window, so the growth
counts the stored objects themselves, not just the pointers to them. For the
engine kinds the child also reports `db.used_memory`, the estimate behind INFO
memory and maxmemory, to compare with the real growth.

Run: python benchmarks/engine_memory.py [--items 1000000] [--runs 3]
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

ITEM_BYTES = 100
BATCH = 1_000  # RPUSH arguments per call
TARGET_VS_DEQUE = 1.5  # engine list bytes/item <= 1.5x a bare deque's
TARGET_ESTIMATE_FACTOR = 2.0  # used_memory within 2x of the real RSS growth
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
KINDS = ("engine-list", "deque", "engine-keys", "dict")


def rss_bytes() -> int:
    """Resident set size of this process: statm's second field, in pages."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


def item(i: int) -> bytes:
    """A distinct 100-byte item (a fresh object each call)."""
    return b"%0100d" % i


# -- what each child fills (inside the measured window) -------------------------


def fill_engine_list(n: int) -> Any:
    from queuekit import connect

    client = connect("memory://")
    length = 0
    for start in range(0, n, BATCH):
        batch = [item(i) for i in range(start, min(n, start + BATCH))]
        length = client.execute(b"RPUSH", b"list", *batch)
    assert length == n, f"RPUSH left {length} items, not {n}"
    return client


def fill_deque(n: int) -> Any:
    items: deque[bytes] = deque()
    for start in range(0, n, BATCH):
        items.extend([item(i) for i in range(start, min(n, start + BATCH))])
    return items


def fill_engine_keys(n: int) -> Any:
    from queuekit import connect

    client = connect("memory://")
    execute = client.execute
    for i in range(n):
        execute(b"SET", b"k:%d" % i, b"v:%d" % i)
    return client


def fill_dict(n: int) -> Any:
    return {b"k:%d" % i: b"v:%d" % i for i in range(n)}


FILLERS: dict[str, Callable[[int], Any]] = {
    "engine-list": fill_engine_list,
    "deque": fill_deque,
    "engine-keys": fill_engine_keys,
    "dict": fill_dict,
}


def measure_here(kind: str, n: int) -> dict[str, Any]:
    """Fill one store in this process and report its RSS growth (the child's side)."""
    import queuekit  # imported before the baseline by every kind alike

    queuekit.connect("memory://").execute(b"PING")
    gc.collect()
    before = rss_bytes()
    store = FILLERS[kind](n)
    gc.collect()
    growth = rss_bytes() - before
    result: dict[str, Any] = {"kind": kind, "n": n, "rss_growth": growth}
    if kind.startswith("engine"):
        result["used_memory"] = store.store.engine.db.used_memory
    return result


def measure_in_child(kind: str, n: int) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--items", str(n)],
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        sys.exit(f"measuring {kind} failed:\n{child.stderr}")
    result: dict[str, Any] = json.loads(child.stdout)
    return result


# -- the parent's report --------------------------------------------------------


def median_of(runs: list[dict[str, Any]], field: str) -> float:
    return float(statistics.median(run[field] for run in runs))


def verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def report(results: dict[str, list[dict[str, Any]]], n: int) -> None:
    per = {kind: median_of(runs, "rss_growth") / n for kind, runs in results.items()}
    print(f"{'store':<44}{'RSS growth':>14}{'bytes/item':>12}")
    labels = {
        "engine-list": f"engine list, RPUSH x {n:,} ({ITEM_BYTES} B items)",
        "deque": f"bare deque, the same {n:,} items",
        "engine-keys": f"engine strings, SET k:<i> v:<i> x {n:,}",
        "dict": "bare dict, the same keys and values",
    }
    for kind in KINDS:
        print(f"{labels[kind]:<44}{per[kind] * n / 2**20:>11.1f} MiB{per[kind]:>12.1f}")
    ratio = per["engine-list"] / per["deque"]
    print(
        f"\nengine list / bare deque: {ratio:.2f}x  "
        f"(target <= {TARGET_VS_DEQUE}x: {verdict(ratio <= TARGET_VS_DEQUE)})"
    )
    print(f"engine strings / bare dict: {per['engine-keys'] / per['dict']:.2f}x")
    print("\nused_memory (INFO's estimate) against the real RSS growth:")
    for kind in ("engine-list", "engine-keys"):
        estimate = median_of(results[kind], "used_memory")
        real = median_of(results[kind], "rss_growth")
        factor = max(estimate, real) / min(estimate, real)
        print(
            f"  {kind:<12} used_memory {estimate / 2**20:7.1f} MiB, RSS growth "
            f"{real / 2**20:7.1f} MiB: estimate/real {estimate / real:.2f} "
            f"(target within {TARGET_ESTIMATE_FACTOR:g}x: "
            f"{verdict(factor <= TARGET_ESTIMATE_FACTOR)})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="elements per store")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per kind")
    parser.add_argument("--measure", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure_here(args.measure, args.items)))
        return 0
    if not os.path.exists("/proc/self/statm"):
        print("engine_memory needs /proc/self/statm (Linux): skipped")
        return 0
    print(
        f"engine memory, Python {sys.version.split()[0]}: RSS growth in a fresh process per "
        f"measurement, median of {args.runs} run(s)\n"
    )
    results = {
        kind: [measure_in_child(kind, args.items) for _ in range(args.runs)] for kind in KINDS
    }
    report(results, args.items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
