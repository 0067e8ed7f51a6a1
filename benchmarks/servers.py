"""A redis-server and a queuekit server on free loopback ports, for the benchmarks
that compare them side by side (imported by the scripts next to it)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator


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
                sock.sendall(b"PING\r\n")
                if sock.recv(7).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not answer PING")


@contextlib.contextmanager
def servers() -> Iterator[dict[str, str]]:
    """A redis-server and a queuekit server on free ports; their URLs by name."""
    workdir = tempfile.mkdtemp(prefix="queuekit-bench-")
    ports = {"queuekit server": free_port(), "redis-server": free_port()}
    commands = {
        "queuekit server": [sys.executable, "-m", "queuekit", "server", "--port"],
        "redis-server": [
            *("redis-server", "--save", "", "--appendonly", "no", "--dir", workdir),
            *("--bind", "127.0.0.1", "--port"),
        ],
    }
    processes = {
        name: subprocess.Popen(
            [*commands[name], str(ports[name])],
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
