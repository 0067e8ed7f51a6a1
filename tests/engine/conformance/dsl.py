"""The language conformance cases are written in.

A case is a name and a list of steps, run on a fresh database on both the
engine and a real redis-server; every step's reply must match exactly, in
RESP2 and in RESP3. A step is a command (a list of str/bytes/int arguments),
or one of these wrappers:

    Sorted(cmd)        the reply is an array (or set/map) in hash order: compare sorted
    Shape(cmd)         the reply is random (SPOP, RANDOMKEY): compare type and length only
    Near(cmd, delta)   an integer that depends on elapsed time (PTTL): compare within delta
    Sleep(ms)          let time pass: the engine's fake clock moves, the test sleeps for Redis
    On(n, step)        run the step as client n (default client 0); clients share the data
    Send(cmd)          send without reading the reply (a blocking pop that will wait)
    Receive(n)         read the reply of client n's pending Send, after other steps
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Arg = str | bytes | int | float


@dataclass(frozen=True)
class Sorted:
    cmd: list[Arg]


@dataclass(frozen=True)
class Shape:
    cmd: list[Arg]


@dataclass(frozen=True)
class Near:
    cmd: list[Arg]
    delta: int


@dataclass(frozen=True)
class Sleep:
    ms: int


@dataclass(frozen=True)
class On:
    client: int
    step: Any


@dataclass(frozen=True)
class Send:
    cmd: list[Arg]


@dataclass(frozen=True)
class Receive:
    client: int = 0


Step = list[Arg] | Sorted | Shape | Near | Sleep | On | Send | Receive


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Any, ...] = field(default=())

    def __str__(self) -> str:
        return self.name


def case(name: str, *steps: Any) -> Case:
    return Case(name, steps)


def to_bytes(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, float):
        return repr(arg).encode()
    return str(arg).encode()
