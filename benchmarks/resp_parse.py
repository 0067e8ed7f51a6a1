"""Request parsing throughput: commands/s for a pipelined buffer of 16 SET commands.

One read of a pipelining client, 16 `SET key:<n> <32-byte value>` arrays in one
buffer, is fed to a RequestParser and cut into commands, `--reads` times per
round, by:

    hiredis path   RequestParser as the server uses it with hiredis installed
                   (the `fast` extra): whole reads go to hiredis, checked
    python path    the same parser without hiredis: its pure-Python fast path
    exact path     the same parser with `_parse_fast` switched off, the reference
                   both fast paths must agree with, byte for byte

plus, for scale, the floor of any parser in Python: `bytes.split` of the same
buffer on CRLF. The modes alternate within each round, so the noise of a
shared machine falls on all of them alike; the table shows medians.

Run: python benchmarks/resp_parse.py [--reads 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

from queuekit.resp import accelerator
from queuekit.resp.encoder import encode_command
from queuekit.resp.limits import Limits
from queuekit.resp.requests import RequestParser

PIPELINE = 16  # commands per read


class PythonRequestParser(RequestParser):
    """The parser without hiredis."""

    __slots__ = ()

    def __init__(self, limits: Limits | None = None, *, authenticated: bool = True) -> None:
        super().__init__(limits, authenticated=authenticated)
        self._whole_reads = None


class ExactRequestParser(RequestParser):
    """The parser with its fast paths switched off."""

    __slots__ = ()

    def _parse_fast(self, buf: bytes, start: int, out: list[list[bytes]]) -> int:
        return start


def pipeline() -> bytes:
    return b"".join(encode_command([b"SET", b"key:%06d" % n, b"v" * 32]) for n in range(PIPELINE))


def parse_with(parser_class: type[RequestParser]) -> Callable[[bytes, int], float]:
    """Time `reads` reads of `data` through one parser, as one connection sees them."""

    def run(data: bytes, reads: int) -> float:
        parser = parser_class()
        feed, commands = parser.feed, parser.commands
        started = time.perf_counter()
        for _ in range(reads):
            feed(data)
            if len(commands()) != PIPELINE:
                raise AssertionError("the pipeline did not parse into 16 commands")
        return time.perf_counter() - started

    return run


def split_only(data: bytes, reads: int) -> float:
    started = time.perf_counter()
    for _ in range(reads):
        data.split(b"\r\n")
    return time.perf_counter() - started


MODES: dict[str, Callable[[bytes, int], float]] = {
    "python path": parse_with(PythonRequestParser),
    "exact path": parse_with(ExactRequestParser),
    "bytes.split floor": split_only,
}
if accelerator.AVAILABLE:
    MODES = {"hiredis path": parse_with(RequestParser), **MODES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=20000, help="reads per mode and round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds; medians are shown")
    args = parser.parse_args()
    data = pipeline()
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode, run in MODES.items():
            gc.collect()
            seconds[mode].append(run(data, args.reads))
    print(
        f"{PIPELINE} SET commands per read, {len(data)} bytes; {args.reads} reads x {args.rounds}"
    )
    if not accelerator.AVAILABLE:
        print("hiredis not installed (pip install 'queuekit[fast]'): its path skipped")
    print(f"{'mode':<20} {'commands/s':>14} {'us/read':>10}")
    for mode, times in seconds.items():
        median = statistics.median(times)
        rate = PIPELINE * args.reads / median
        print(f"{mode:<20} {rate:>14,.0f} {1e6 * median / args.reads:>10.2f}")


if __name__ == "__main__":
    main()
