"""Engine throughput: ops/s through `MemoryClient.execute()` beside plain-Python references.

Each operation runs `--ops` times in a row on each implementation:

    engine            MemoryClient.execute(*argv) on memory://, every argument bytes
    minimal dispatch  a dict from command name to a tiny handler over dict/deque/set,
                      called with the argv tuple: the floor for any command dispatcher
    bare python       the same operation written directly on a dict / deque / set
    fakeredis         FakeRedis().execute_command(*argv), when fakeredis is installed

One round runs every operation in order (RPOP drains what LPUSH pushed, GET reads
what SET wrote) on a fresh dataset, once per implementation; the implementations'
order rotates from round to round so that the noise of a shared machine falls on
all of them alike, and the table shows each figure's median over the rounds.

Run: python benchmarks/engine_throughput.py [--ops 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from queuekit import ResponseError, connect

Argv = tuple[Any, ...]
Run = Callable[[list[Argv]], None]

HOT_OPS = ("INCR", "LPUSH", "RPOP")
TARGET_OPS_PER_S = 1_000_000  # for HOT_OPS
TARGET_VS_DISPATCH = 0.5  # for HOT_OPS: at least half the minimal dispatch's rate
TARGET_VS_FAKEREDIS = 100  # for every operation
FAKEREDIS_SHARE = 100  # fakeredis runs ops / this many calls: it is ~100x slower
TTL_S = b"100"


@dataclass(frozen=True)
class Op:
    """One row of the table: a label and the argv of each of its calls."""

    label: str
    argvs: Callable[[int], list[Argv]]
    engine_only: bool = False  # the str-argument row: the references use bytes anyway

    @property
    def reference(self) -> str:
        """The label whose reference figures this row is compared with."""
        return self.label.split(" (")[0]


def all_ops() -> list[Op]:
    return [
        Op("INCR", lambda n: [(b"INCR", b"counter")] * n),
        Op("INCR (str args)", lambda n: [("INCR", "counter")] * n, engine_only=True),
        Op("LPUSH", lambda n: [(b"LPUSH", b"queue", b"job-payload")] * n),
        Op("RPOP", lambda n: [(b"RPOP", b"queue")] * n),
        Op("SADD", lambda n: [(b"SADD", b"set", b"member:%d" % i) for i in range(n)]),
        Op("ZADD", lambda n: [(b"ZADD", b"zset", b"%d" % i, b"member:%d" % i) for i in range(n)]),
        Op("SET EX", lambda n: [(b"SET", b"k:%d" % i, b"value", b"EX", TTL_S) for i in range(n)]),
        Op("GET", lambda n: [(b"GET", b"k:%d" % i) for i in range(n)]),
    ]


# -- implementations ----------------------------------------------------------


class Engine:
    """The engine through the in-process client, as an app would call it."""

    name = "engine"

    def __init__(self) -> None:
        self.client = connect("memory://")

    def reset(self) -> None:
        store = self.client.store
        with store.lock:
            store.engine.db.flush()

    def runner(self, label: str) -> Run:
        execute = self.client.execute

        def run(argvs: list[Argv]) -> None:
            for argv in argvs:
                execute(*argv)

        return run


class MinimalDispatch:
    """A name -> handler dict over bare containers: what any dispatcher costs at least."""

    name = "minimal dispatch"

    def __init__(self) -> None:
        self.reset()
        self.handlers: dict[bytes, Callable[[Argv], Any]] = {
            b"INCR": self.incr,
            b"LPUSH": self.lpush,
            b"RPOP": self.rpop,
            b"SADD": self.sadd,
            b"ZADD": self.zadd,
            b"SET": self.set,
            b"GET": self.get,
        }

    def reset(self) -> None:
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        self.queue: deque[bytes] = deque()
        self.members: set[bytes] = set()
        self.scores: dict[bytes, float] = {}
        self.ordered = SortedList()

    def incr(self, argv: Argv) -> int:
        value: int = self.data.get(argv[1], 0) + 1
        self.data[argv[1]] = value
        return value

    def lpush(self, argv: Argv) -> int:
        self.queue.appendleft(argv[2])
        return len(self.queue)

    def rpop(self, argv: Argv) -> bytes | None:
        return self.queue.pop() if self.queue else None

    def sadd(self, argv: Argv) -> int:
        if argv[2] in self.members:
            return 0
        self.members.add(argv[2])
        return 1

    def zadd(self, argv: Argv) -> int:
        score, member = float(argv[2]), argv[3]
        if member in self.scores:
            return 0
        self.scores[member] = score
        self.ordered.add((score, member))
        return 1

    def set(self, argv: Argv) -> bytes:
        self.data[argv[1]] = argv[2]
        self.expires[argv[1]] = time.time_ns() // 1_000_000 + int(argv[4]) * 1000
        return b"OK"

    def get(self, argv: Argv) -> Any:
        return self.data.get(argv[1])

    def runner(self, label: str) -> Run:
        handlers = self.handlers

        def dispatch(argv: Argv) -> Any:
            return handlers[argv[0]](argv)

        def run(argvs: list[Argv]) -> None:
            for argv in argvs:
                dispatch(argv)

        return run


class BarePython(MinimalDispatch):
    """The same containers, each operation written inline in its loop: no call at all."""

    name = "bare python"

    def runner(self, label: str) -> Run:
        return getattr(self, "run_" + label.replace(" ", "_").lower())  # type: ignore[no-any-return]

    def run_incr(self, argvs: list[Argv]) -> None:
        data = self.data
        for argv in argvs:
            data[argv[1]] = data.get(argv[1], 0) + 1

    def run_lpush(self, argvs: list[Argv]) -> None:
        queue = self.queue
        for argv in argvs:
            queue.appendleft(argv[2])

    def run_rpop(self, argvs: list[Argv]) -> None:
        queue = self.queue
        for _ in argvs:
            queue.pop()

    def run_sadd(self, argvs: list[Argv]) -> None:
        members = self.members
        for argv in argvs:
            members.add(argv[2])

    def run_zadd(self, argvs: list[Argv]) -> None:
        scores, ordered = self.scores, self.ordered
        for argv in argvs:
            score = float(argv[2])
            scores[argv[3]] = score
            ordered.add((score, argv[3]))

    def run_set_ex(self, argvs: list[Argv]) -> None:
        data, expires = self.data, self.expires
        for argv in argvs:
            data[argv[1]] = argv[2]
            expires[argv[1]] = time.time_ns() // 1_000_000 + int(argv[4]) * 1000

    def run_get(self, argvs: list[Argv]) -> None:
        data = self.data
        for argv in argvs:
            data.get(argv[1])


class FakeRedis:
    """fakeredis's FakeRedis, called the way redis-py users call it."""

    name = "fakeredis"
    share = FAKEREDIS_SHARE

    def __init__(self, module: Any) -> None:
        self.client = module.FakeRedis()

    def reset(self) -> None:
        self.client.flushall()

    def runner(self, label: str) -> Run:
        execute = self.client.execute_command

        def run(argvs: list[Argv]) -> None:
            for argv in argvs:
                execute(*argv)

        return run


# -- measuring ----------------------------------------------------------------


def missing_ops(ops: Sequence[Op]) -> dict[str, str]:
    """Operations the engine cannot run yet (a command still being written), and why."""
    probe = connect("memory://throughput-probe")
    missing = {}
    for op in ops:
        try:
            for argv in op.argvs(2):
                probe.execute(*argv)
        except ResponseError as error:
            missing[op.label] = error.message
    return missing


def time_one(impl: Any, op: Op, argvs: list[Argv]) -> float:
    """Ops per second of one run of `op` on `impl` (a slow impl runs a share of argvs)."""
    run = impl.runner(op.label)
    argvs = argvs[: max(1, len(argvs) // getattr(impl, "share", 1))]
    gc.collect()
    started = time.perf_counter()
    run(argvs)
    return len(argvs) / (time.perf_counter() - started)


def measure(impls: list[Any], ops: list[Op], n: int, rounds: int) -> dict[tuple[str, str], float]:
    """Median ops/s per (implementation, operation) over alternating rounds."""
    argvs = {op.label: op.argvs(n) for op in ops}
    samples: dict[tuple[str, str], list[float]] = {}
    for round_no in range(rounds):
        shift = round_no % len(impls)
        for impl in impls[shift:] + impls[:shift]:
            impl.reset()
            for op in ops:
                if op.engine_only and impl.name != "engine":
                    continue
                ops_per_s = time_one(impl, op, argvs[op.label])
                samples.setdefault((impl.name, op.label), []).append(ops_per_s)
        print(f"  round {round_no + 1}/{rounds} done", file=sys.stderr)
    return {key: statistics.median(values) for key, values in samples.items()}


# -- reporting ----------------------------------------------------------------


def rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    return f"{value / 1e3:.1f} k"


def verdict(op: Op, engine: float, dispatch: float | None, fake: float | None) -> str:
    """'met', or which of the row's targets the engine missed."""
    misses = []
    if op.reference in HOT_OPS and not op.engine_only:
        if engine < TARGET_OPS_PER_S:
            misses.append(f"< {TARGET_OPS_PER_S / 1e6:g} M ops/s")
        if dispatch and engine / dispatch < TARGET_VS_DISPATCH:
            misses.append(f"< {TARGET_VS_DISPATCH}x dispatch")
    if fake and engine / fake < TARGET_VS_FAKEREDIS:
        misses.append(f"< {TARGET_VS_FAKEREDIS}x fakeredis")
    if misses:
        return "missed: " + ", ".join(misses)
    return "met" if fake or (op.reference in HOT_OPS and not op.engine_only) else ""


ROW = "{:<16}{:>10}{:>10}{:>10}{:>10}{:>11}{:>10}   {}"


def report(results: dict[tuple[str, str], float], ops: list[Op]) -> None:
    print(ROW.format("op", "engine", "dispatch", "eng/disp", "bare", "fakeredis", "eng/fake", ""))
    for op in ops:
        engine = results[("engine", op.label)]
        dispatch = results.get(("minimal dispatch", op.reference))
        bare = results.get(("bare python", op.reference))
        fake = results.get(("fakeredis", op.reference))
        print(
            ROW.format(
                op.label,
                rate(engine),
                rate(dispatch),
                f"{engine / dispatch:.2f}x" if dispatch else "-",
                rate(bare),
                rate(fake),
                f"{engine / fake:,.0f}x" if fake else "-",
                verdict(op, engine, dispatch, fake),
            )
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=200_000, help="calls per operation and run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs; medians shown")
    args = parser.parse_args(argv)

    ops = all_ops()
    for label, why in missing_ops(ops).items():
        print(f"{label}: not in the engine yet ({why}): skipped")
        ops = [op for op in ops if op.label != label]
    impls: list[Any] = [Engine(), MinimalDispatch(), BarePython()]
    try:
        import fakeredis
    except ImportError:
        print("fakeredis not installed: skipped")
    else:
        impls.append(FakeRedis(fakeredis))
    print(
        f"engine throughput, Python {sys.version.split()[0]}: {args.ops:,} calls per operation "
        f"(fakeredis 1/{FAKEREDIS_SHARE} of that), median of {args.rounds} alternating rounds, "
        "ops/s\n"
    )
    sys.stdout.flush()
    report(measure(impls, ops, args.ops, args.rounds), ops)
    print(
        f"\ntargets: INCR, LPUSH, RPOP >= {TARGET_OPS_PER_S:,} ops/s and >= {TARGET_VS_DISPATCH}x "
        f"the minimal dispatch; every operation >= {TARGET_VS_FAKEREDIS}x fakeredis"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
