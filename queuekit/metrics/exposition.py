"""The /metrics HTTP endpoint on a thread, and `queuekit_build_info`.

    endpoint = MetricsEndpoint(registry, host="127.0.0.1", port=0)
    endpoint.port          # the bound port (port 0 lets the OS pick one)
    endpoint.close()

Rules:
1. Loopback by default (DEFAULT_HOST): metrics name queues and tasks, so
   exposing them beyond the machine is the operator's choice.
2. Like prometheus_client.start_http_server, but it reports the bound port,
   logs no line per scrape (a scrape every few seconds would drown the
   logs), and `close()` stops the thread and frees the port.
3. Every scrape runs the registry's collectors on a thread of the endpoint;
   collectors that read a store or a server must bound their own time.
"""

from __future__ import annotations

import platform
import socket
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

DEFAULT_HOST = "127.0.0.1"
CLOSE_TIMEOUT_S = 10.0  # how long close() waits for a scrape in progress


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing (rule 2)."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # Daemon threads: a scrape in progress never keeps the process alive.
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


def _server_class(host: str) -> type[_ThreadingServer]:
    """The server class whose address family can bind `host`."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return _ThreadingServer6 if infos[0][0] == socket.AF_INET6 else _ThreadingServer


class MetricsEndpoint:
    """Serves `registry` on http://host:port/metrics from a daemon thread until `close()`."""

    def __init__(
        self, registry: CollectorRegistry, host: str = DEFAULT_HOST, port: int = 0
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"metrics port must be 0-65535, got {port}")
        self.registry = registry
        self.host = host
        self._httpd = make_server(
            host, port, make_wsgi_app(registry), _server_class(host), handler_class=_QuietHandler
        )
        self.port: int = self._httpd.server_port
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="queuekit-metrics", daemon=True
        )
        self._thread.start()
        self._closed = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(CLOSE_TIMEOUT_S)

    def __enter__(self) -> MetricsEndpoint:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class BuildInfoCollector(Collector):
    """`queuekit_build_info{version, python}` 1: which queuekit serves these figures."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        # Imported here: the job layer may import the metrics while `queuekit`
        # itself is still initialising, before it defines __version__.
        from queuekit import __version__

        info = GaugeMetricFamily(
            "queuekit_build_info",
            "Always 1; the labels say which queuekit and Python serve these metrics.",
            labels=("version", "python"),
        )
        info.add_metric((__version__, platform.python_version()), 1.0)
        yield info
