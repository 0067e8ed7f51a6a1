"""Store URLs: one function that turns a URL into a client.

    memory://            the process's default in-process store
    memory://NAME        another in-process store of this process

The network schemes (redis://, rediss://, unix://) arrive with the client of
the server issue; asking for them before then is a clear error.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from queuekit.client.memory import AsyncMemoryClient, MemoryClient, open_store


def _memory_store_name(url: str) -> str:
    """The store's name: what follows memory://, without outer slashes.

    memory://a/b and memory:///a/b name the store "a/b" (never "ab", which is
    memory://ab). A query or fragment is refused rather than ignored.
    """
    parts = urlsplit(url)
    if parts.scheme != "memory":
        raise ValueError(
            f"store URL {url!r} is not supported yet: use memory:// (network URLs "
            "redis://, rediss:// and unix:// come with the queuekit server)"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"memory:// store URL {url!r} takes no options (?... or #...)")
    return (parts.netloc + parts.path).strip("/")


def connect(url: str = "memory://") -> MemoryClient:
    """A synchronous client for the store at `url`."""
    return MemoryClient(open_store(_memory_store_name(url)))


def connect_async(url: str = "memory://") -> AsyncMemoryClient:
    """An asyncio client for the store at `url`."""
    return AsyncMemoryClient(open_store(_memory_store_name(url)))
