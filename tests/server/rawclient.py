"""Byte-level helpers for the server tests: read until the server hangs up, poll."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

WAIT_S = 15.0
CLOSED = b"<closed>"
RESET = b"<reset>"


def read_until_closed(sock: socket.socket, timeout: float = WAIT_S) -> bytes:
    """Everything the server sends until it closes, then CLOSED (or RESET).

    Fails the test if the connection is still open after `timeout` seconds.
    """
    sock.settimeout(timeout)
    received = b""
    try:
        while data := sock.recv(65536):
            received += data
    except ConnectionResetError:
        return received + RESET
    except TimeoutError:
        pytest.fail(f"the server kept the connection open; it sent {received[:200]!r}")
    return received + CLOSED


def is_closed(sock: socket.socket, timeout: float = WAIT_S) -> bool:
    """True once the server has closed the connection (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll until `condition()` holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def ping(port: int) -> bytes:
    """PING on a new connection: what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64)
