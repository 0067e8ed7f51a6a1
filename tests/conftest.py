"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_cluster import LocalCluster, start_cluster
from tests.support.redis_server import RedisServer, start_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole session, on a free port."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """A private Redis Cluster (3 primaries, 3 replicas) for the whole session."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
