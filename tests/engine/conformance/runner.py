"""Runs one conformance case on the engine and on redis-server, step by step."""

from __future__ import annotations

import socket
import time
from typing import Any

from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import Blocked
from queuekit.engine.session import Session
from queuekit.resp.encoder import encode_reply
from tests.engine.conformance.dsl import (
    Case,
    Near,
    On,
    Receive,
    Send,
    Shape,
    Sleep,
    Sorted,
    to_bytes,
)
from tests.support import wire
from tests.support.wire import Tagged

REPLY_TIMEOUT_S = 30.0


class RedisSide:
    """Clients of the real server, one socket each, opened on demand."""

    def __init__(self, host: str, port: int, resp: int) -> None:
        self.address = (host, port)
        self.resp = resp
        self.clients: dict[int, tuple[socket.socket, Any]] = {}

    def client(self, n: int) -> tuple[socket.socket, Any]:
        if n not in self.clients:
            sock = socket.create_connection(self.address, timeout=REPLY_TIMEOUT_S)
            stream = sock.makefile("rb")
            self.clients[n] = (sock, stream)
            if self.resp == 3:
                sock.sendall(wire.encode_command([b"HELLO", b"3"]))
                wire.read_reply(stream)
        return self.clients[n]

    def send(self, n: int, argv: list[bytes]) -> None:
        self.client(n)[0].sendall(wire.encode_command(argv))

    def receive(self, n: int) -> Tagged:
        return wire.read_reply(self.client(n)[1])

    def close(self) -> None:
        for sock, stream in self.clients.values():
            stream.close()
            sock.close()


class EngineSide:
    """The engine with a fake clock that starts at the real time."""

    def __init__(self, resp: int) -> None:
        self.clock = FakeClock(start_ms=time.time_ns() // 1_000_000)
        self.engine = Engine(self.clock)
        self.resp = resp
        self.sessions: dict[int, Session] = {}
        self.pending: dict[int, Any] = {}

    def session(self, n: int) -> Session:
        if n not in self.sessions:
            self.sessions[n] = Session(resp=self.resp)
        return self.sessions[n]

    def run(self, n: int, argv: list[bytes]) -> Any:
        try:
            reply = self.engine.execute(self.session(n), argv)
        except CommandError as error:
            return error
        if type(reply) is Blocked:
            # Nobody else runs meanwhile: a plain step that blocks times out.
            return reply.timeout_reply
        return reply

    def send(self, n: int, argv: list[bytes]) -> None:
        try:
            reply = self.engine.execute(self.session(n), argv)
        except CommandError as error:
            reply = error
        if type(reply) is Blocked:
            box: list[Any] = []
            self.engine.block(reply, box.append)
            self.pending[n] = (reply, box)
        else:
            self.pending[n] = (None, [reply])

    def receive(self, n: int) -> Any:
        blocked, box = self.pending.pop(n)
        if not box:
            self.engine.unblock(blocked)
            return blocked.timeout_reply
        return box[0]

    def encode(self, reply: Any) -> Tagged:
        return wire.parse(encode_reply(reply, self.resp))


def normalize(reply: Tagged, how: Any) -> Any:
    if isinstance(how, Sorted):
        tag, items = reply
        if tag == "%":
            return (tag, sorted(items, key=repr))
        if tag in "*~" and items is not None:
            return ("*", sorted(items, key=repr))
        return reply
    if isinstance(how, Shape):
        tag, value = reply
        if tag in "*~%" and value is not None:
            return (tag, len(value))
        if tag == "-":
            return reply
        return (tag, value is None)
    return reply


def run_case(case: Case, host: str, port: int, resp: int) -> list[str]:
    """Run every step on both sides; return a line per mismatch."""
    redis = RedisSide(host, port, resp)
    engine = EngineSide(resp)
    mismatches: list[str] = []
    try:
        redis.send(0, [b"FLUSHALL"])
        redis.receive(0)
        for index, step in enumerate(case.steps):
            client = 0
            if isinstance(step, On):
                client, step = step.client, step.step
            if isinstance(step, Sleep):
                time.sleep(step.ms / 1000)
                engine.clock.advance(ms=step.ms)
                continue
            if isinstance(step, Send):
                argv = [to_bytes(a) for a in step.cmd]
                redis.send(client, argv)
                engine.send(client, argv)
                # Let the server park it before the next step writes.
                time.sleep(0.02)
                continue
            if isinstance(step, Receive):
                expected = redis.receive(step.client)
                actual = engine.encode(engine.receive(step.client))
                if expected != actual:
                    mismatches.append(
                        f"step {index} Receive({step.client}): "
                        f"redis {expected!r} != engine {actual!r}"
                    )
                continue
            cmd = step.cmd if isinstance(step, Sorted | Shape | Near) else step
            argv = [to_bytes(a) for a in cmd]
            redis.send(client, argv)
            expected = redis.receive(client)
            actual = engine.encode(engine.run(client, argv))
            if isinstance(step, Near):
                close = (
                    expected[0] == actual[0] == ":" and abs(expected[1] - actual[1]) <= step.delta
                )
                if not close:
                    mismatches.append(
                        f"step {index} {cmd}: redis {expected!r} "
                        f"not within {step.delta} of engine {actual!r}"
                    )
                continue
            expected, actual = normalize(expected, step), normalize(actual, step)
            if expected != actual:
                mismatches.append(f"step {index} {cmd}: redis {expected!r} != engine {actual!r}")
    finally:
        redis.close()
    return mismatches
