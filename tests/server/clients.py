"""redis-py clients for the server tests: each protocol, with and without hiredis."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.asyncio
from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser, _HiredisParser, _RESP2Parser
from redis.utils import HIREDIS_AVAILABLE

# (protocol, parser) pairs; redis-py upgrades its pure-Python RESP2 parser to
# the RESP3 one itself when protocol=3.
VARIANTS = [(2, "python"), (2, "hiredis"), (3, "python"), (3, "hiredis")]
VARIANT_IDS = [f"resp{protocol}-{parser}" for protocol, parser in VARIANTS]

_SYNC_PARSERS: dict[str, Any] = {"python": _RESP2Parser, "hiredis": _HiredisParser}
_ASYNC_PARSERS: dict[str, Any] = {"python": _AsyncRESP2Parser, "hiredis": _AsyncHiredisParser}


def _require(parser: str) -> None:
    if parser == "hiredis" and not HIREDIS_AVAILABLE:
        pytest.skip("hiredis is not installed (it is in the test extra)")


def sync_client(
    port: int, protocol: int = 2, parser: str = "python", **options: Any
) -> redis.Redis:
    """A redis-py client on 127.0.0.1:port; `close()` it when done."""
    _require(parser)
    pool = redis.ConnectionPool(
        host="127.0.0.1",
        port=port,
        protocol=protocol,
        parser_class=_SYNC_PARSERS[parser],
        socket_timeout=30,
        **options,
    )
    return redis.Redis.from_pool(pool)


def async_client(
    port: int, protocol: int = 2, parser: str = "python", **options: Any
) -> redis.asyncio.Redis:
    """An asyncio redis-py client on 127.0.0.1:port; `await aclose()` it when done."""
    _require(parser)
    pool = redis.asyncio.ConnectionPool(
        host="127.0.0.1",
        port=port,
        protocol=protocol,
        parser_class=_ASYNC_PARSERS[parser],
        socket_timeout=30,
        **options,
    )
    return redis.asyncio.Redis.from_pool(pool)
