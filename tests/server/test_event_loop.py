"""`queuekit server` runs on uvloop when it is installed (the `fast` and
`test` extras); servers started in process run on asyncio's own loop, so the
suite exercises both. INFO's server section and the ready log say which."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import redis

from tests.persistence.support import ServerProcess, info
from tests.server.conftest import ServerFactory


def test_the_server_command_runs_on_uvloop_when_it_is_installed(tmp_path: Path) -> None:
    if importlib.util.find_spec("uvloop") is None:
        message = "uvloop is not installed (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must not skip this test", pytrace=False)
        pytest.skip(message)
    server = ServerProcess(tmp_path / "data", "everysec", "--appendonly", "no")
    try:
        server.wait_ready()
        client = server.client()
        try:
            assert info(client, "server")["queuekit_event_loop"] == "uvloop"
            assert client("SET", "k", "v") == b"OK"
            assert client("GET", "k") == b"v"
        finally:
            client.close()
    finally:
        assert server.stop() == 0
    assert server.events("server_ready")[0]["event_loop"] == "uvloop"


def test_a_server_started_in_process_says_it_runs_on_asyncio(
    server_factory: ServerFactory,
) -> None:
    server = server_factory()
    client = redis.Redis(port=server.port)
    try:
        assert client.info("server")["queuekit_event_loop"] == "asyncio"
    finally:
        client.close()
