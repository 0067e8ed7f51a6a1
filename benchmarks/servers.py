"""A redis-server and a queuekit server on free loopback ports, for the benchmarks
that compare them side by side (imported by the scripts next to it), and
`redis_benchmark`, which runs redis-benchmark against one of them.

With `appendfsync`, both servers keep an append-only file with that fsync
policy, each in its own data directory under one temp directory, removed
when they stop; without it, neither writes anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                if sock.recv(7).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not answer PING")


def persistence_flags(appendfsync: str | None, data_dir: str) -> dict[str, list[str]]:
    """Each server's flags for one persistence mode (None: none), snapshots off."""
    if appendfsync is None:
        return {"queuekit server": [], "redis-server": ["--appendonly", "no"]}
    return {
        "queuekit server": [
            *("--data-dir", os.path.join(data_dir, "queuekit"), "--save", ""),
            *("--appendonly", "yes", "--appendfsync", appendfsync),
        ],
        "redis-server": ["--appendonly", "yes", "--appendfsync", appendfsync],
    }


@contextlib.contextmanager
def servers(appendfsync: str | None = None) -> Iterator[dict[str, str]]:
    """A redis-server and a queuekit server on free ports; their URLs by name.

    `appendfsync` (always, everysec or no) turns the append-only file on for both.
    """
    workdir = tempfile.mkdtemp(prefix="queuekit-bench-")
    redis_dir = os.path.join(workdir, "redis")
    os.mkdir(redis_dir)
    ports = {"queuekit server": free_port(), "redis-server": free_port()}
    flags = persistence_flags(appendfsync, workdir)
    commands = {
        "queuekit server": [sys.executable, "-m", "queuekit", "server", "--port"],
        "redis-server": [
            *("redis-server", "--save", "", "--dir", redis_dir),
            *("--bind", "127.0.0.1", "--port"),
        ],
    }
    processes = {
        name: subprocess.Popen(
            [*commands[name], str(ports[name]), *flags[name]],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ports
    }
    try:
        for name, process in processes.items():
            wait_ready(ports[name], process)
        yield {name: f"redis://127.0.0.1:{port}/0" for name, port in ports.items()}
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def redis_benchmark(
    url: str, tests: str, *, requests: int, pipeline: int = 1, clients: int = 50
) -> dict[str, float]:
    """`redis-benchmark -t TESTS -c CLIENTS -n REQUESTS -P PIPELINE -q` against
    the server at `url`: requests per second by test name."""
    port = urlsplit(url).port
    output = subprocess.run(
        [
            *("redis-benchmark", "-p", str(port), "-t", tests, "-c", str(clients)),
            *("-n", str(requests), "-P", str(pipeline), "-q"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    results: dict[str, float] = {}
    for line in output.replace("\r", "\n").splitlines():
        if "requests per second" in line:
            name, rest = line.split(":", 1)
            results[name.strip()] = float(rest.split("requests per second")[0])
    return results
