"""Fixtures of the persistence tests: a data directory, and servers started on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.persistence.support import STOP_TIMEOUT_S, ServerProcess


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def start() -> Iterator[type[ServerProcess]]:
    """Start servers with `start(data_dir, fsync, *flags)`; those still running are killed."""
    started: list[ServerProcess] = []

    class Tracked(ServerProcess):
        def __init__(self, data_dir: Path, fsync: str = "always", *extra: str) -> None:
            super().__init__(data_dir, fsync, *extra)
            started.append(self)

    yield Tracked
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(STOP_TIMEOUT_S)
