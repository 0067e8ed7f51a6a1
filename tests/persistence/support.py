"""Helpers for the persistence tests: an engine that records its AOF, replay, servers.

`Recorder` is the engine tests' `Client` with a `Propagation` attached: every
write it runs lands in `recorder.log` as RESP frames. `replay(log, at_ms, dir)`
writes them to a file and loads it into a fresh engine whose fake clock reads
`at_ms`; `dataset(engine)` is what must survive: every live key's value and
deadline, in a form that compares with `==`.

`ServerProcess` runs `queuekit server` as a subprocess on a free port and a
data directory (the `start` fixture in conftest.py tracks and kills them);
`Resp` is a minimal blocking RESP2 client, independent of queuekit's own, and
`info(client, section)` reads INFO fields. Waits are bounded by generous
deadlines.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.engine.zset import ZSet
from queuekit.persistence.loader import LoadReport, load
from queuekit.persistence.manifest import DIR_NAME, MANIFEST_NAME, read_manifest
from queuekit.persistence.propagate import Propagation
from tests.engine.support import START_MS, Client
from tests.support.redis_server import free_port


class Recorder(Client):
    """A fake-clock engine whose writes are propagated into `log`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(errors_as_values=True, **options)
        self.propagation = Propagation(self.engine)
        self.propagation.attach()
        self._log = bytearray()

    @property
    def log(self) -> bytes:
        self._log += self.propagation.take()
        return bytes(self._log)


def normalized(value: Any) -> Any:
    """A stored value in a comparable form (a counter int and its text are equal)."""
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, deque):
        return ("list", list(value))
    if isinstance(value, ZSet):
        return ("zset", sorted((member, score) for score, member in value))
    if isinstance(value, set):
        return ("set", sorted(value))
    if isinstance(value, dict):
        return ("hash", sorted(value.items()))
    return value


def dataset(engine: Engine) -> dict[bytes, tuple[Any, int | None]]:
    """Every live key (deadline not passed) -> (value, deadline in ms or None)."""
    db = engine.db
    now = db.clock.now_ms()
    return {
        key: (normalized(value), db.expires.get(key))
        for key, value in db.data.items()
        if db.expires.get(key, now) >= now
    }


def replay(log: bytes, at_ms: int, directory: Path) -> tuple[Engine, LoadReport]:
    """Load `log` into a fresh engine whose clock reads `at_ms`."""
    path = directory / "replay.aof"
    path.write_bytes(log)
    engine = Engine(FakeClock(at_ms))
    report = load(path, engine)
    return engine, report


def commands_of(log: bytes) -> list[list[bytes]]:
    """The commands in a log, parsed back, for tests that check what was logged."""
    from queuekit.resp.requests import RequestParser

    parser = RequestParser()
    parser.feed(log)
    return [list(command) for command in parser.commands()]


# -- queuekit server subprocesses ---------------------------------------------------

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
IO_TIMEOUT_S = 30.0


def _frame(argv: tuple[str | bytes | int, ...]) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
    return b"*%d\r\n" % len(parts) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in parts
    )


class Resp:
    """A minimal blocking RESP2 client: one command, one reply (or a pipeline)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        self.stream = self.sock.makefile("rb")

    def __call__(self, *argv: str | bytes | int) -> object:
        self.sock.sendall(_frame(argv))
        return self._reply()

    def pipeline(self, commands: list[tuple[str | bytes | int, ...]]) -> list[object]:
        """Send every command at once, then read their replies in order."""
        self.sock.sendall(b"".join(_frame(argv) for argv in commands))
        return [self._reply() for _ in commands]

    def _reply(self, nested: bool = False) -> object:
        """One reply; an error reply raises RuntimeError, or is returned as one inside an array."""
        line = self.stream.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError(f"connection closed mid-reply: {line!r}")
        tag, body = line[:1], line[1:-2]
        if tag == b"+":
            return body
        if tag == b"-":
            if nested:
                return RuntimeError(body.decode())
            raise RuntimeError(body.decode())
        if tag == b":":
            return int(body)
        if tag == b"$":
            size = int(body)
            return None if size < 0 else self.stream.read(size + 2)[:-2]
        if tag == b"*":
            return [self._reply(nested=True) for _ in range(int(body))]
        raise ValueError(f"unexpected reply {line!r}")

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def push_until_broken(port: int, key: str, prefix: str, acked: list[tuple[str, float]]) -> None:
    """RPUSH unique values one at a time, recording each acknowledged one and when."""
    try:
        client = Resp(port)
    except OSError:
        return
    try:
        for index in range(1_000_000):
            value = f"{prefix}-{index}"
            client("RPUSH", key, value)
            acked.append((value, time.monotonic()))
    except (OSError, ConnectionError, ValueError):
        pass  # the server was killed
    finally:
        client.close()


def strings(reply: object) -> list[str]:
    """An array reply of bulk strings, as text."""
    assert isinstance(reply, list)
    return [value.decode() for value in reply if isinstance(value, bytes)]


def check_no_loss(client: Resp, key: str, acked: set[str]) -> None:
    """Every acknowledged value is in the list at `key`, and none twice."""
    values = strings(client("LRANGE", key, "0", "-1"))
    assert len(values) == len(set(values)), "a push was applied twice"
    missing = acked - set(values)
    assert not missing, f"{len(missing)} acknowledged pushes lost, e.g. {sorted(missing)[:3]}"


def aof_files(data_dir: Path) -> list[Path]:
    """The files the AOF manifest lists, base first, in loading order."""
    directory = data_dir / DIR_NAME
    return [directory / entry.name for entry in read_manifest(directory / MANIFEST_NAME).files]


def incr_path(data_dir: Path) -> Path:
    """The incr file a server appends to: the manifest's last."""
    return aof_files(data_dir)[-1]


def info(client: Resp, section: str = "persistence") -> dict[str, str]:
    """The fields of one INFO section, by name."""
    text = client("INFO", section)
    assert isinstance(text, bytes)
    return dict(line.split(":", 1) for line in text.decode().splitlines() if ":" in line)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll `condition` until it holds; fail naming `what` after a generous deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class ServerProcess:
    """One `queuekit server --appendonly yes` subprocess on a data directory; its log is a file.

    `extra` flags come last, so they override the defaults (`--appendonly no`).
    """

    def __init__(self, data_dir: Path, fsync: str = "always", *extra: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.command = [
            *(sys.executable, "-m", "queuekit", "server", "--port", str(self.port)),
            *("--data-dir", str(data_dir), "--appendonly", "yes", "--appendfsync", fsync),
            *("--log-format", "json", *extra),
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=subprocess.DEVNULL, stderr=log, cwd=data_dir.parent
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.log}")
            with contextlib.suppress(OSError):
                client = Resp(self.port)
                try:
                    if client("PING") == b"PONG":
                        return
                finally:
                    client.close()
            time.sleep(0.05)
        raise AssertionError(f"server on port {self.port} did not answer PING: {self.log}")

    def client(self) -> Resp:
        return Resp(self.port)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(STOP_TIMEOUT_S)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, object]]:
        """The JSON log lines, all or those of one event."""
        found = []
        for line in self.log.splitlines():
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return [event for event in found if name is None or event.get("event") == name]


def running(
    start: type[ServerProcess], data_dir: Path, fsync: str = "always", *extra: str
) -> ServerProcess:
    server = start(data_dir, fsync, *extra)
    server.wait_ready()
    return server


__all__ = [
    "IO_TIMEOUT_S",
    "START_MS",
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "Recorder",
    "Resp",
    "ServerProcess",
    "aof_files",
    "check_no_loss",
    "commands_of",
    "dataset",
    "incr_path",
    "info",
    "normalized",
    "push_until_broken",
    "replay",
    "running",
    "strings",
    "wait_for",
]
