"""The queuekit server's own endpoint: its figures, its flag and variable, served over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import threading
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from queuekit.connect import connect
from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.engine.session import Session
from queuekit.metrics import server as server_metrics
from queuekit.metrics.server import ServerCollector, server_registry
from queuekit.server import cli
from queuekit.server.app import Server
from queuekit.server.config import ServerConfig
from tests.support.queuekit_server import running_server

HTTP_TIMEOUT_S = 60.0


def scrape_http(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_running_server_serves_its_figures_over_http() -> None:
    """`metrics_port=0` serves /metrics; commands by name, clients, keys and memory show."""
    with running_server(metrics_port=0, maxmemory=64 * 1024 * 1024) as server:
        port = server.listening.metrics_port
        assert port is not None and port > 0
        client = connect(server.url)
        try:
            client.execute(b"SET", b"a", b"1")
            client.execute(b"SET", b"b", b"2", b"EX", 100)
            client.execute(b"GET", b"a")
            samples = scrape_http(port)
        finally:
            client.close()
    assert samples[("queuekit_server_commands_total", frozenset({("command", "set")}))] == 2
    assert samples[("queuekit_server_commands_total", frozenset({("command", "get")}))] == 1
    assert samples[("queuekit_server_keys", frozenset())] == 2
    assert samples[("queuekit_server_expiring_keys", frozenset())] == 1
    assert samples[("queuekit_server_connected_clients", frozenset())] >= 1
    assert samples[("queuekit_server_memory_used_bytes", frozenset())] > 0
    assert samples[("queuekit_server_memory_max_bytes", frozenset())] == 64 * 1024 * 1024
    assert any(name == "queuekit_build_info" for name, _ in samples)


def test_the_server_serves_no_metrics_unless_asked() -> None:
    """Without metrics_port the server starts no endpoint."""
    with running_server() as server:
        assert server.listening.metrics_port is None


def fake_server() -> tuple[Server, Engine, FakeClock]:
    """A Server object that is not running, on an engine with a fake clock."""
    clock = FakeClock()
    engine = Engine(clock, maxmemory=0)
    return Server(ServerConfig(), engine), engine, clock


def test_expired_evicted_and_command_counters_are_read_from_the_engine() -> None:
    """Expired keys, calls inside MULTI/EXEC and maxmemory 0 read as the engine counts them."""
    server, engine, clock = fake_server()
    session = Session()
    engine.execute(session, [b"SET", b"k", b"v", b"PX", b"1000"])
    engine.execute(session, [b"MULTI"])
    engine.execute(session, [b"INCR", b"n"])
    engine.execute(session, [b"INCR", b"n"])
    engine.execute(session, [b"EXEC"])
    clock.advance(2)
    assert engine.execute(session, [b"GET", b"k"]) is None
    registry = server_registry(server)
    assert registry.get_sample_value("queuekit_server_expired_keys_total") == 1
    assert registry.get_sample_value("queuekit_server_evicted_keys_total") == 0
    assert registry.get_sample_value("queuekit_server_memory_max_bytes") == 0
    incr = registry.get_sample_value("queuekit_server_commands_total", {"command": "incr"})
    assert incr == 2
    assert registry.get_sample_value("queuekit_server_commands_total", {"command": "exec"}) == 1


def test_resetstat_restarts_info_total_but_not_the_exported_counters() -> None:
    """Prometheus counters never go down; INFO's total_commands_processed does."""
    engine = Engine(FakeClock())
    session = Session()
    for _ in range(3):
        engine.execute(session, [b"PING"])
    engine.reset_stats()
    engine.execute(session, [b"PING"])
    assert engine.commands_processed == 1
    assert engine.command_calls == {"ping": 4}


def test_a_loop_that_does_not_answer_leaves_only_the_build_info(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A busy or closed server loop gives a scrape without server figures, not a hang."""
    monkeypatch.setattr(server_metrics, "SNAPSHOT_TIMEOUT_S", 0.05)
    server, _, _ = fake_server()
    loop = asyncio.new_event_loop()  # never run: nothing it is given ever runs
    try:
        registry = CollectorRegistry()
        registry.register(ServerCollector(server, loop))
        assert registry.get_sample_value("queuekit_server_keys") is None
    finally:
        loop.close()
    assert registry.get_sample_value("queuekit_server_keys") is None  # closed: refused at once


def test_figures_are_read_on_the_servers_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a loop, the snapshot is taken by the loop's thread, never the scrape's."""
    server, _, _ = fake_server()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    readers: list[str] = []
    original = server_metrics.snapshot

    def spy(s: Server) -> server_metrics.ServerSnapshot:
        readers.append(threading.current_thread().name)
        return original(s)

    monkeypatch.setattr(server_metrics, "snapshot", spy)
    try:
        assert list(ServerCollector(server, loop).collect())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
    assert readers == [thread.name]


def test_the_flag_and_its_variable_set_the_metrics_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """--metrics-port wins over QUEUEKIT_SERVER_METRICS_PORT; the worker's variable is ignored."""
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    monkeypatch.setenv("QUEUEKIT_METRICS_PORT", "9400")
    assert cli.config_from(parser.parse_args(["server"])).metrics_port is None
    monkeypatch.setenv("QUEUEKIT_SERVER_METRICS_PORT", "9401")
    monkeypatch.setenv("QUEUEKIT_SERVER_METRICS_BIND", "::1")
    config = cli.config_from(parser.parse_args(["server"]))
    assert (config.metrics_port, config.metrics_bind) == (9401, "::1")
    config = cli.config_from(parser.parse_args(["server", "--metrics-port", "9402"]))
    assert config.metrics_port == 9402


def test_a_metrics_port_out_of_range_is_refused() -> None:
    """A metrics port past 65535 is a ValueError naming it and the range."""
    with pytest.raises(ValueError, match="metrics port must be 0-65535, got 70000"):
        ServerConfig(metrics_port=70000)
