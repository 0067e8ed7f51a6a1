"""Store URLs: one function that turns a URL into a client.

    memory://                   the process's default in-process store
    memory://NAME               another in-process store of this process
    memory://NAME?dir=PATH      the same, persisted to the directory PATH
        [&appendfsync=always|everysec|no]     (see queuekit.client.memory)
    redis://host:port/0         the queuekit server, or any Redis 7 / Valkey
    rediss://host:port/0        the same over TLS
    unix:///path/to/socket      the same over a unix socket
    redis+cluster://h:p,h:p     a Redis Cluster (or Valkey's), through any of its nodes;
                                rediss+cluster:// over TLS (queuekit[cluster] extra)

With no URL, QUEUEKIT_URL is used, and without that the queuekit server's
default address on this machine (redis://127.0.0.1:6390/0). Every client has
the same surface (`execute`, `pipeline`, typed methods) and the same reply
values, so code moves between stores by changing the URL.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from queuekit.client.address import CLUSTER_SCHEMES, DEFAULT_PORT, parse_cluster_url, parse_url
from queuekit.client.network import AsyncNetworkClient, NetworkClient

# The in-process store (the engine, persistence) and the cluster client are
# imported by the URLs that use them: a redis:// worker process starts without
# them (~0.15 s).
if TYPE_CHECKING:
    from queuekit.client.cluster import AsyncClusterClient, ClusterClient
    from queuekit.client.memory import AsyncMemoryClient, MemoryClient, MemoryStore

DEFAULT_URL = f"redis://127.0.0.1:{DEFAULT_PORT}/0"
MEMORY_OPTIONS = ("dir", "appendfsync")  # all a memory:// URL may take


def default_url() -> str:
    """QUEUEKIT_URL, or the local queuekit server's address."""
    return os.environ.get("QUEUEKIT_URL") or DEFAULT_URL


def _memory_store(url: str) -> MemoryStore:
    """The in-process store a memory:// URL names, opened (or made) by `open_store`.

    The name is what follows memory://, without outer slashes: memory://a/b
    and memory:///a/b name the store "a/b" (never "ab", which is memory://ab).
    The only options are dir=PATH and, with it, appendfsync=always|everysec|no;
    anything else, an option given twice, or a fragment is refused rather
    than ignored.
    """
    from queuekit.client.memory import DEFAULT_FSYNC, open_store
    from queuekit.persistence.aof import FSYNC_POLICIES

    parts = urlsplit(url)
    if parts.fragment:
        raise ValueError(f"memory:// store URL {url!r} takes no fragment (#...)")
    options: dict[str, str] = {}
    for pair in filter(None, parts.query.split("&")):
        # Not parse_qsl: it reads "+" as a space, and paths may hold a "+".
        raw_key, _, raw_value = pair.partition("=")
        key, value = unquote(raw_key), unquote(raw_value)
        if key not in MEMORY_OPTIONS:
            raise ValueError(
                f"memory:// store URL {url!r}: unknown option {key!r}; "
                "the options are dir=PATH and appendfsync=always|everysec|no"
            )
        if key in options:
            raise ValueError(f"memory:// store URL {url!r}: option {key!r} is given twice")
        options[key] = value
    directory = options.get("dir")
    if directory == "":
        raise ValueError(f"memory:// store URL {url!r}: dir is empty; give dir=PATH")
    if directory is None and "appendfsync" in options:
        raise ValueError(
            f"memory:// store URL {url!r}: appendfsync needs dir=PATH "
            "(without a directory nothing is written)"
        )
    fsync = options.get("appendfsync", DEFAULT_FSYNC)
    if fsync not in FSYNC_POLICIES:
        raise ValueError(
            f"memory:// store URL {url!r}: appendfsync {fsync!r} is not one of "
            f"{', '.join(FSYNC_POLICIES)}"
        )
    name = (parts.netloc + parts.path).strip("/")
    return open_store(name, directory=directory, appendfsync=fsync)


def _is_cluster(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


def describe_url(url: str) -> str:
    """Where `url` points, for messages: never a password or options (memory:// as given)."""
    if url.startswith("memory:"):
        return url
    if _is_cluster(url):
        return parse_cluster_url(url).describe()
    return parse_url(url).describe()


def connect(url: str | None = None) -> MemoryClient | NetworkClient | ClusterClient:
    """A synchronous client for the store at `url` (see the module docstring)."""
    url = url or default_url()
    if url.startswith("memory:"):
        from queuekit.client.memory import MemoryClient

        return MemoryClient(_memory_store(url))
    if _is_cluster(url):
        from queuekit.client.cluster import ClusterClient

        return ClusterClient(parse_cluster_url(url))
    return NetworkClient(parse_url(url))


def connect_async(
    url: str | None = None,
) -> AsyncMemoryClient | AsyncNetworkClient | AsyncClusterClient:
    """An asyncio client for the store at `url` (see the module docstring)."""
    url = url or default_url()
    if url.startswith("memory:"):
        from queuekit.client.memory import AsyncMemoryClient

        return AsyncMemoryClient(_memory_store(url))
    if _is_cluster(url):
        from queuekit.client.cluster import AsyncClusterClient

        return AsyncClusterClient(parse_cluster_url(url))
    return AsyncNetworkClient(parse_url(url))
