"""Against a real Prometheus: every dashboard and alert expression returns data.

The module starts, on free loopback ports, a `queuekit server --metrics-port`,
a `queuekit worker --metrics-port` supervisor with two worker processes running
tests/grafana/traffic_tasks.py, and a Prometheus (data in tmp_path, scrape
interval 1 s, grafana/alerts.yml loaded) scraping both endpoints; a thread
enqueues jobs until the end. Each process is stopped by its PID at the end.

Without the prometheus binary the tests skip locally and fail under CI
(tests/support/redis_server.py's require_binary), like the redis-server ones.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from queuekit.connect import connect
from queuekit.jobs import JobClient, call
from queuekit.jobs.keys import queue_keys
from tests.grafana import files
from tests.support.redis_server import free_port, require_binary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WAIT_S = 60.0  # each bounded wait: a process starting, the data appearing
STOP_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 10.0
TRAFFIC_PERIOD_S = 0.2  # the traffic thread enqueues a batch this often
TASKS = Path(__file__).with_name("traffic_tasks.py")


def promtool() -> str:
    return require_binary("promtool", package="prometheus")


@dataclass
class Service:
    """A process the module started, with the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (exit {self.process.poll()}), {self.log}:\n" + "\n".join(
            text.splitlines()[-lines:]
        )

    def stop(self) -> None:
        """SIGTERM (a supervisor drains), then SIGKILL past the timeout; by PID only."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


def start(name: str, argv: list[str], workdir: Path, env: dict[str, str]) -> Service:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Service(name, process, log)


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        body: bytes = response.read()
        return body


def wait_until(what: str, ready: Callable[[], bool], services: list[Service]) -> None:
    """Poll `ready` until it holds, for at most WAIT_S; fail early if a service died."""
    deadline = time.monotonic() + WAIT_S
    while not ready():
        dead = [s for s in services if not s.alive()]
        if dead or time.monotonic() > deadline:
            reason = "a process exited" if dead else f"not within {WAIT_S:g} s"
            logs = "\n".join(s.tail() for s in services)
            pytest.fail(f"{what}: {reason}\n{logs}", pytrace=False)
        time.sleep(0.5)


def serves(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            http_get(url)
        except (OSError, urllib.error.URLError):
            return False
        return True

    return ready


class Traffic(threading.Thread):
    """Enqueues a mixed batch every TRAFFIC_PERIOD_S until stopped, dedup duplicates included."""

    def __init__(self, url: str) -> None:
        super().__init__(name="grafana-traffic", daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.batches = 0

    def run(self) -> None:
        client = connect(self.url)
        try:
            jobs = JobClient(client)
            while not self.stopping.wait(TRAFFIC_PERIOD_S):
                n = self.batches
                batch = [call("traffic.work", n * 10 + i) for i in range(8)]
                batch += [call("traffic.work", i, _queue="critical") for i in range(2)]
                batch += [call("traffic.flaky", n), call("traffic.limited", n)]
                if n % 5 == 0:
                    batch.append(call("traffic.slow"))
                jobs.enqueue_many(batch)
                if n % 10 == 0:  # undecodable: counted by whichever worker fetches it
                    client.execute("LPUSH", queue_keys("default").ready[1], b"not a job")
                jobs.enqueue("traffic.work", n, _dedup_key=f"k{n}")
                jobs.enqueue("traffic.work", n, _dedup_key=f"k{n}")  # refused: a dedup hit
                self.batches += 1
        except BaseException as error:  # reported by the test, not lost in a thread
            self.error = error
        finally:
            client.close()


@dataclass
class Stack:
    """The running services and Prometheus's address."""

    prometheus_url: str
    services: list[Service]
    traffic: Traffic
    notes: list[str] = field(default_factory=list)

    def query(self, expr: str) -> dict[str, Any]:
        """The JSON answer of an instant query (its status and data)."""
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            answer: dict[str, Any] = json.loads(http_get(url))
        except urllib.error.HTTPError as error:  # a bad query answers 400 with a JSON body
            answer = json.loads(error.read())
        return answer

    def logs(self) -> str:
        return "\n".join(service.tail() for service in self.services)


def no_data(stack: Stack, exprs: list[str]) -> dict[str, str]:
    """The expressions that error or return no data, with Prometheus's answer."""
    missing = {}
    for expr in exprs:
        answer = stack.query(expr)
        if answer.get("status") != "success":
            missing[expr] = f"error: {answer.get('error')}"
        elif answer["data"]["resultType"] in ("vector", "matrix") and not answer["data"]["result"]:
            missing[expr] = "no data"
    return missing


def wait_for_data(stack: Stack, exprs: list[str]) -> dict[str, str]:
    """Re-query until every expression returns data or WAIT_S passed; what is still missing."""
    deadline = time.monotonic() + WAIT_S
    missing = no_data(stack, exprs)
    while missing and time.monotonic() < deadline and all(s.alive() for s in stack.services):
        time.sleep(1.0)
        missing = no_data(stack, list(missing))
    return missing


def prometheus_config(workdir: Path, targets: dict[str, int]) -> Path:
    """A prometheus.yml (JSON is YAML) scraping `targets` every second, with the alert rules."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(files.ALERTS)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for job, port in targets.items()
        ],
    }
    path = workdir / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2))
    return path


def kill_worker_processes(url: str, services: list[Service]) -> None:
    """Kill a worker process through a die_once job on each queue, one after the other.

    At-most-once first (its jobs are found lost), then, once the loss was
    counted, at-least-once (its jobs are redelivered); the supervisor restarts
    both. One at a time: a process dying with a job fetched but not yet
    recorded loses it undetected (docs/semantics.md), so two die_once jobs in
    one fetched batch could hide a loss.
    """
    client = connect(url)
    try:
        jobs = JobClient(client)
        for queue, counter in (("default", "lost"), ("critical", "redelivered")):
            job_id = f"die-{queue}"
            jobs.enqueue("traffic.die_once", queue, job_id, _queue=queue, _job_id=job_id)
            stats = queue_keys(queue).stats

            def counted(stats: bytes = stats, counter: str = counter) -> bool:
                return int(client.execute("HGET", stats, counter) or 0) > 0

            wait_until(f"a job {counter} on {queue}", counted, services)
    finally:
        client.close()


def start_stack(
    workdir: Path, services: list[Service], threads: list[Traffic], prometheus: str
) -> Stack:
    """Start server, worker, traffic and Prometheus into `services` and `threads`
    (the caller stops them, also when this fails half-way)."""
    ports: set[int] = set()
    while len(ports) < 4:  # four distinct free ports
        ports.add(free_port())
    store_port, server_metrics, worker_metrics, web = sorted(ports)
    url = f"redis://127.0.0.1:{store_port}/0"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["QUEUEKIT_URL"] = url
    queuekit = [sys.executable, "-m", "queuekit"]
    server_argv = [*queuekit, "server", "--port", str(store_port), "--maxmemory", "256mb"]
    server_argv += ["--metrics-port", str(server_metrics), "--log-format", "json"]
    services.append(start("server", server_argv, workdir, env))
    wait_until("queuekit server metrics", serves(f"http://127.0.0.1:{server_metrics}/"), services)
    client = connect(url)
    try:
        JobClient(client).enqueue("traffic.work", 0, _delay=3600)  # stays scheduled
    finally:
        client.close()
    shutil.copy(TASKS, workdir / TASKS.name)
    worker_argv = [*queuekit, "worker", TASKS.stem, "--queues", "critical,default"]
    worker_argv += ["--at-least-once", "critical", "--processes", "2", "--concurrency", "4"]
    worker_argv += ["--metrics-port", str(worker_metrics), "--heartbeat-interval", "0.5"]
    worker_argv += ["--heartbeat-ttl", "2", "--shutdown-timeout", "5", "--log-format", "json"]
    services.append(start("worker", worker_argv, workdir, env))
    wait_until("worker metrics", serves(f"http://127.0.0.1:{worker_metrics}/"), services)
    traffic = Traffic(url)
    threads.append(traffic)
    traffic.start()
    kill_worker_processes(url, services)
    config = prometheus_config(
        workdir, {"queuekit-server": server_metrics, "queuekit-worker": worker_metrics}
    )
    argv = [prometheus, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}"]
    argv += [f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"]
    services.append(start("prometheus", argv, workdir, env))
    prometheus_url = f"http://127.0.0.1:{web}"
    wait_until("prometheus ready", serves(f"{prometheus_url}/-/ready"), services)
    return Stack(prometheus_url, services, traffic)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The running server, worker, traffic and Prometheus; all stopped at the end."""
    prometheus = require_binary("prometheus", package="prometheus")
    workdir = tmp_path_factory.mktemp("grafana")
    services: list[Service] = []
    threads: list[Traffic] = []
    try:
        yield start_stack(workdir, services, threads, prometheus)
    finally:
        for traffic in threads:
            traffic.stopping.set()
            traffic.join(STOP_TIMEOUT_S)
        for service in reversed(services):  # Prometheus, the worker, then the store
            service.stop()
    for traffic in threads:
        assert traffic.error is None, f"the traffic thread failed: {traffic.error!r}"


def test_every_dashboard_expression_returns_data(stack: Stack) -> None:
    """Each panel's PromQL, variables replaced, returns series from the scraped endpoints."""
    exprs = sorted({files.substitute(expr) for _, expr in files.dashboard_expressions()})
    assert len(exprs) > 40
    missing = wait_for_data(stack, exprs)
    assert not missing, f"{json.dumps(missing, indent=1)}\n{stack.logs()}"


def test_every_dashboard_variable_finds_label_values(stack: Stack) -> None:
    """The queue and task variables' label_values() selectors return series with the label."""
    for name, selector, label in files.variable_selectors():
        expr = files.substitute(selector)
        assert not wait_for_data(stack, [expr]), (name, expr, stack.logs())
        series = stack.query(expr)["data"]["result"]
        values = {s["metric"].get(label) for s in series}
        assert values - {None}, (name, values)
    queues = {s["metric"]["queue"] for s in stack.query("queuekit_queue_length")["data"]["result"]}
    assert {"default", "critical"} <= queues


def test_every_alert_rule_loads_evaluates_and_reads_existing_series(stack: Stack) -> None:
    """Prometheus loads every rule of alerts.yml and evaluates it without error, and each
    expression, its comparisons made `bool`, returns data: every series it reads exists."""
    rules_url = f"{stack.prometheus_url}/api/v1/rules?type=alert"

    def rules() -> list[dict[str, Any]]:
        groups = json.loads(http_get(rules_url))["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    wait_until(
        "every rule evaluated", lambda: all(r["health"] == "ok" for r in rules()), stack.services
    )
    loaded = rules()
    assert {rule["name"] for rule in loaded} == set(files.alert_blocks())
    assert all(not rule.get("lastError") for rule in loaded), loaded
    exprs = {rule["name"]: files.as_bool(rule["query"]) for rule in loaded}
    missing = wait_for_data(stack, sorted(exprs.values()))
    assert not missing, f"{json.dumps(missing, indent=1)}\n{stack.logs()}"
    for expr in (rule["query"] for rule in loaded):  # as written: valid, data or not
        assert stack.query(expr)["status"] == "success", expr


def test_promtool_checks_the_alert_rules() -> None:
    """`promtool check rules grafana/alerts.yml` passes."""
    result = subprocess.run(
        [promtool(), "check", "rules", str(files.ALERTS)],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_of_the_alert_rules_pass() -> None:
    """`promtool test rules grafana/alerts_test.yml`: each alert fires exactly when it should."""
    result = subprocess.run(
        [promtool(), "test", "rules", str(files.ALERTS.with_name("alerts_test.yml"))],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
