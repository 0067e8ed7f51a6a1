"""Store URLs for network stores, parsed once into an `Address`.

    redis://[[username]:password@]host[:port][/db][?option=value...]
    rediss://...                          the same over TLS
    unix:///path/to/socket[?db=0&password=...]
    redis+cluster://[[username]:password@]host:port[,host:port...][?option=value...]
    rediss+cluster://...                  a Redis Cluster (any of its nodes; the rest
                                          are discovered), plain or over TLS

Options: timeout (seconds for connect and each reply; default none for
replies, 10 for connect), client_name, max_connections, retry_for (seconds a
client keeps trying to (re)connect, with backoff), ssl_cert_reqs
(required|none) and ssl_ca_certs for rediss. A cluster URL takes the same
options, each for every node; it has no database (a cluster has only db 0),
and its retry_for defaults to CLUSTER_RETRY_FOR_S, long enough to ride out a
failover with Redis's default cluster-node-timeout of 15 s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 6390  # the queuekit server's; a Redis URL names its port (6379)
REDIS_PORT = 6379  # a cluster node's port when a cluster URL leaves it out
CLUSTER_RETRY_FOR_S = 30.0  # node timeout (15 s by default) + election + margin
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


@dataclass(frozen=True, slots=True)
class Address:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    path: str | None = None  # a unix socket instead of host and port
    tls: bool = False
    db: int = 0
    username: str | None = None
    password: str | None = None
    connect_timeout: float = 10.0
    reply_timeout: float | None = None
    client_name: str | None = None
    max_connections: int = 64
    retry_for: float = 10.0
    ssl_cert_reqs: str = "required"
    ssl_ca_certs: str | None = None

    def describe(self) -> str:
        """Where, for error messages (never the password)."""
        if self.path:
            return f"unix://{self.path}"
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}/{self.db}"


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    """A Redis Cluster: the nodes a URL names, and how to reach any node."""

    nodes: tuple[tuple[str, int], ...]
    node: Address  # every setting but host and port, for each node's connections

    def at(self, host: str, port: int) -> Address:
        """The address of one node."""
        return replace(self.node, host=host, port=port)

    def describe(self) -> str:
        """Where, for error messages (never the password)."""
        scheme = "rediss+cluster" if self.node.tls else "redis+cluster"
        hosts = (f"[{host}]" if ":" in host else host for host, _ in self.nodes)
        ports = (port for _, port in self.nodes)
        return f"{scheme}://" + ",".join(f"{h}:{p}" for h, p in zip(hosts, ports, strict=True))


def parse_cluster_url(url: str) -> ClusterAddress:
    """A redis+cluster:// or rediss+cluster:// URL (module docstring)."""
    parts = urlsplit(url)
    if parts.scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"store URL {url!r} is not a cluster URL: use redis+cluster://host:port")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    options = _options(url, query)
    if options.pop("db", 0) != 0 or parts.path.strip("/") not in ("", "0"):
        raise ValueError(f"store URL {url!r}: a Redis Cluster has only database 0")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    if username:
        options["username"] = unquote(username)
    if password:
        options["password"] = unquote(password)
    nodes = tuple(_host_port(url, item) for item in hosts.split(","))
    options.setdefault("retry_for", CLUSTER_RETRY_FOR_S)
    return ClusterAddress(nodes, Address(tls=parts.scheme == "rediss+cluster", **options))


def _host_port(url: str, item: str) -> tuple[str, int]:
    """One host[:port] of a cluster URL's node list."""
    item = item.strip()
    if item.endswith("]") or ":" not in item:  # no port; [::1] is an IPv6 literal
        host, port = item, str(REDIS_PORT)
    else:
        host, _, port = item.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"store URL {url!r}: {item!r} is not host:port")
    return host, int(port)


def parse_url(url: str) -> Address:
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    options = _options(url, query)
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(f"store URL {url!r} names no socket path: use unix:///path/to/socket")
        return Address(path=unquote(parts.path), **options)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(
            f"store URL {url!r} has an unknown scheme {parts.scheme!r}: "
            "use memory://, redis://, rediss:// or unix://"
        )
    db = options.pop("db", 0)
    path_db = parts.path.strip("/")
    if path_db:
        if not path_db.isdigit():
            raise ValueError(f"store URL {url!r}: the database must be a number, got {path_db!r}")
        db = int(path_db)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"store URL {url!r} has an invalid port") from None
    return Address(
        host=parts.hostname or "127.0.0.1",
        port=port,
        tls=parts.scheme == "rediss",
        db=db,
        username=unquote(parts.username) if parts.username else options.pop("username", None),
        password=unquote(parts.password) if parts.password else options.pop("password", None),
        **options,
    )


def _options(url: str, query: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    numbers = {"timeout": float, "retry_for": float, "max_connections": int, "db": int}
    for key, value in query.items():
        if key in numbers:
            try:
                number = numbers[key](value)
            except ValueError:
                raise ValueError(
                    f"store URL {url!r}: {key} must be a number, got {value!r}"
                ) from None
            if key == "timeout":
                options["connect_timeout"] = number
                options["reply_timeout"] = number
            else:
                options[key] = number
        elif key in ("client_name", "username", "password", "ssl_ca_certs"):
            options[key] = value
        elif key == "ssl_cert_reqs":
            if value not in ("required", "none"):
                raise ValueError(f"store URL {url!r}: ssl_cert_reqs must be required or none")
            options[key] = value
        else:
            raise ValueError(f"store URL {url!r}: unknown option {key!r}")
    return options
