"""Start a real Redis Cluster from redis-server binaries: 3 primaries, 3 replicas, free ports.

    cluster = start_cluster()            # skips without redis-server/redis-cli; fails under CI
    client = connect(cluster.url)        # redis+cluster://127.0.0.1:p1,...
    cluster.kill(cluster.primary_for(b"qk:{default}:ready:1"))   # SIGKILL; its replica takes over
    cluster.stop()                       # every process it started, by PID

Each node runs in its own temporary folder with `cluster-enabled yes`; the
cluster is made with `redis-cli --cluster create ... --cluster-replicas 1
--cluster-yes`, and `start_cluster` returns once every node reports
`cluster_state:ok`, every slot is served and every replica's link to its
primary is up. Node ports are picked so that the cluster bus port (the
port + 10000, Redis's fixed offset) is free as well. Helpers talk to single
nodes through redis-py, never through the code under test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from redis.crc import key_slot

from tests.support.redis_server import free_port, require_binary

HOST = "127.0.0.1"
BUS_PORT_OFFSET = 10000  # Redis Cluster's bus listens on the data port + 10000
# Failover needs the primary to be unreachable this long: short enough for a
# test, long enough that a node stalled by a loaded machine is not failed over.
NODE_TIMEOUT_MS = 2000
STARTUP_TIMEOUT_S = 60.0
FAILOVER_TIMEOUT_S = 60.0
POLL_S = 0.05


@dataclass
class Node:
    """One redis-server process of the cluster."""

    port: int
    workdir: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(HOST, self.port, socket_timeout=30, socket_connect_timeout=5)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class LocalCluster:
    """A running cluster and the processes behind it."""

    nodes: list[Node]
    _clients: dict[int, redis.Redis] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The queuekit URL naming every node (any one would do: the rest are discovered)."""
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)

    def node(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    def call(self, port: int, *args: object) -> object:
        """One command on one node (a fresh client each time a node comes back)."""
        client = self._clients.get(port)
        if client is None:
            client = self._clients[port] = self.node(port).client()
        return client.execute_command(*args)

    def primaries(self) -> list[int]:
        """The ports of the primaries serving slots, as a live node sees them."""
        return sorted({port for _, _, port in self._slot_ranges()})

    def primary_for(self, key: bytes) -> int:
        """The port of the primary serving `key`'s slot."""
        slot = key_slot(key)
        for start, end, port in self._slot_ranges():
            if start <= slot <= end:
                return port
        raise LookupError(f"slot {slot} of {key!r} is not served")

    def replica_of(self, primary: int) -> int:
        """The port of a replica of `primary`."""
        for port in self._live_ports():
            info = self._info(port, "replication")
            if info.get("role") == "slave" and int(info.get("master_port", 0)) == primary:
                return port
        raise LookupError(f"primary {primary} has no replica")

    def flushall(self) -> None:
        """Empty every primary (replicas follow)."""
        for port in self.primaries():
            self.call(port, "FLUSHALL")

    def keys(self) -> list[bytes]:
        """Every key of the cluster, sorted."""
        found: list[bytes] = []
        for port in self.primaries():
            found += self.call(port, "KEYS", "*")  # type: ignore[operator]
        return sorted(found)

    def kill(self, port: int) -> None:
        """SIGKILL one node: no shutdown, no last write to its replica."""
        node = self.node(port)
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(30)
        self._clients.pop(port, None)

    def restart(self, port: int) -> None:
        """Start a killed node again from its nodes.conf; it rejoins (as a replica
        if its replica was promoted meanwhile)."""
        node = self.node(port)
        node.process = _spawn(node)
        _wait_for(lambda: _pings(node), f"node {port} did not restart; see {node.workdir}")

    def wait_healthy(self, timeout_s: float = FAILOVER_TIMEOUT_S) -> None:
        """Until every live node says cluster_state:ok, every slot is served by a live
        primary the live nodes agree on, and every live replica is in sync."""
        _wait_for(self._healthy, "the cluster did not become healthy", timeout_s)

    def stop(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for node in self.nodes:
            if node.alive():
                assert node.process is not None
                node.process.terminate()
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
        for node in self.nodes:
            shutil.rmtree(node.workdir, ignore_errors=True)

    # -- reading the cluster's view -----------------------------------------------

    def _live_ports(self) -> list[int]:
        return [node.port for node in self.nodes if node.alive()]

    def _info(self, port: int, section: str) -> dict[str, str]:
        text = self.call(port, "INFO", section)
        if isinstance(text, dict):  # redis-py parses INFO into a dict
            return {key: str(value) for key, value in text.items()}
        raise TypeError(f"unexpected INFO reply {text!r}")

    def _slot_ranges(self) -> list[tuple[int, int, int]]:
        """(first slot, last slot, primary port) as a live node sees them."""
        for port in self._live_ports():
            try:
                reply = self.call(port, "CLUSTER", "SLOTS")
            except redis.RedisError:
                continue
            # [[first, last, [host, port, id], replica...], ...]
            return [(int(row[0]), int(row[1]), int(row[2][1])) for row in reply]  # type: ignore[union-attr]
        raise LookupError("no live node answers CLUSTER SLOTS")

    def _healthy(self) -> bool:
        live = self._live_ports()
        try:
            for port in live:
                if self._info_cluster(port).get("cluster_state") != "ok":
                    return False
            ranges = self._slot_ranges()
            if sum(end - start + 1 for start, end, _ in ranges) != 16384:
                return False
            if any(port not in live for _, _, port in ranges):
                return False
            for port in live:
                info = self._info(port, "replication")
                if info.get("role") == "slave" and info.get("master_link_status") != "up":
                    return False
        except redis.RedisError:
            return False
        return True

    def _info_cluster(self, port: int) -> dict[str, str]:
        text = self.call(port, "CLUSTER", "INFO")
        lines = text.decode() if isinstance(text, bytes) else str(text)
        return dict(line.split(":", 1) for line in lines.split() if ":" in line)


def _cluster_port() -> int:
    """A free port whose cluster bus port is free too."""
    while True:
        port = free_port()
        if port + BUS_PORT_OFFSET >= 65536:
            continue
        try:
            with socket.socket() as sock:
                sock.bind((HOST, port + BUS_PORT_OFFSET))
        except OSError:
            continue
        return port


def _spawn(node: Node) -> subprocess.Popen[bytes]:
    binary = require_binary("redis-server")
    return subprocess.Popen(
        [
            binary,
            "--port",
            str(node.port),
            "--bind",
            HOST,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            os.path.join(node.workdir, "nodes.conf"),
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            node.workdir,
            "--logfile",
            os.path.join(node.workdir, "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _pings(node: Node) -> bool:
    if not node.alive():
        raise RuntimeError(f"redis-server on port {node.port} exited; see {node.workdir}")
    try:
        with node.client() as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _wait_for(
    check: Callable[[], bool], message: str, timeout_s: float = STARTUP_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{message} within {timeout_s:g} s")
        time.sleep(POLL_S)


def start_cluster(primaries: int = 3, replicas_each: int = 1) -> LocalCluster:
    """Start and create a cluster (module docstring); stop it with `stop()`."""
    redis_cli = require_binary("redis-cli", "redis-tools")
    require_binary("redis-server")
    nodes = [
        Node(_cluster_port(), tempfile.mkdtemp(prefix="queuekit-cluster-"))
        for _ in range(primaries * (1 + replicas_each))
    ]
    cluster = LocalCluster(nodes)
    try:
        for node in nodes:
            node.process = _spawn(node)
        for node in nodes:
            _wait_for(lambda node=node: _pings(node), f"node {node.port} did not start")
        subprocess.run(
            [
                redis_cli,
                "--cluster",
                "create",
                *(node.address for node in nodes),
                "--cluster-replicas",
                str(replicas_each),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=STARTUP_TIMEOUT_S,
        )
        cluster.wait_healthy(STARTUP_TIMEOUT_S)
    except BaseException:
        cluster.stop()
        raise
    return cluster
