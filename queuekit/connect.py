"""Store URLs: one function that turns a URL into a client.

    memory://                   the process's default in-process store
    memory://NAME               another in-process store of this process
    redis://host:port/0         the queuekit server, or any Redis 7 / Valkey
    rediss://host:port/0        the same over TLS
    unix:///path/to/socket      the same over a unix socket

With no URL, QUEUEKIT_URL is used, and without that the queuekit server's
default address on this machine (redis://127.0.0.1:6390/0). Every client has
the same surface (`execute`, `pipeline`, typed methods) and the same reply
values, so code moves between stores by changing the URL.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from queuekit.client.address import DEFAULT_PORT, parse_url
from queuekit.client.memory import AsyncMemoryClient, MemoryClient, open_store
from queuekit.client.network import AsyncNetworkClient, NetworkClient

DEFAULT_URL = f"redis://127.0.0.1:{DEFAULT_PORT}/0"


def default_url() -> str:
    """QUEUEKIT_URL, or the local queuekit server's address."""
    return os.environ.get("QUEUEKIT_URL") or DEFAULT_URL


def _memory_store_name(url: str) -> str:
    """The store's name: what follows memory://, without outer slashes.

    memory://a/b and memory:///a/b name the store "a/b" (never "ab", which is
    memory://ab). A query or fragment is refused rather than ignored.
    """
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"memory:// store URL {url!r} takes no options (?... or #...)")
    return (parts.netloc + parts.path).strip("/")


def connect(url: str | None = None) -> MemoryClient | NetworkClient:
    """A synchronous client for the store at `url` (see the module docstring)."""
    url = url or default_url()
    if url.startswith("memory:"):
        return MemoryClient(open_store(_memory_store_name(url)))
    return NetworkClient(parse_url(url))


def connect_async(url: str | None = None) -> AsyncMemoryClient | AsyncNetworkClient:
    """An asyncio client for the store at `url` (see the module docstring)."""
    url = url or default_url()
    if url.startswith("memory:"):
        return AsyncMemoryClient(open_store(_memory_store_name(url)))
    return AsyncNetworkClient(parse_url(url))
