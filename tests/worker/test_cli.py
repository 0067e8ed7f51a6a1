"""`queuekit worker`: help, flags over QUEUEKIT_* variables, usage errors, and end to end
runs of the real command against a queuekit server and with --embedded."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from queuekit.cli import build_parser, main
from queuekit.connect import connect
from queuekit.exitcodes import ExitCode
from queuekit.jobs import JobClient, JobStatus
from queuekit.jobs import keys as K
from queuekit.worker import cli as worker_cli
from queuekit.worker.settings import WorkerSettings
from tests.support.queuekit_server import RunningServer, running_server

TWINS = [
    "QUEUEKIT_URL",
    "QUEUEKIT_QUEUES",
    "QUEUEKIT_CONCURRENCY",
    "QUEUEKIT_PROCESSES",
    "QUEUEKIT_BURST",
    "QUEUEKIT_SHUTDOWN_TIMEOUT",
    "QUEUEKIT_MAX_JOBS",
    "QUEUEKIT_AT_LEAST_ONCE",
    "QUEUEKIT_HEARTBEAT_INTERVAL",
    "QUEUEKIT_HEARTBEAT_TTL",
    "QUEUEKIT_METRICS_PORT",
    "QUEUEKIT_METRICS_HOST",
    "QUEUEKIT_LOG_FORMAT",
    "QUEUEKIT_EMBEDDED",
]
RUN_TIMEOUT_S = 120
WAIT_S = 60.0

TASKS_MODULE = """
    from queuekit.jobs import TaskSet

    tasks = TaskSet()

    @tasks.task(name="add", queue="math")
    def add(a: int, b: int) -> int:
        return a + b

    @tasks.task(name="shout")
    async def shout(text: str) -> str:
        return text.upper()
"""


@pytest.fixture(autouse=True)
def no_worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No QUEUEKIT_* variable of the machine leaks into a test; logging stays unconfigured
    in-process (structlog's capture_logs in other tests depends on it)."""
    for name in TWINS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(worker_cli, "configure_logging", lambda log_format: None)


def settings_for(*argv: str) -> WorkerSettings:
    args = build_parser().parse_args(["worker", *argv])
    return worker_cli.settings_from(args)


def test_help_has_examples_twins_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """`queuekit worker --help` shows runnable examples, every QUEUEKIT_* twin and the codes."""
    assert main(["worker", "--help"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "queuekit worker app.tasks --embedded" in out
    assert "queuekit worker --check" in out
    for twin in TWINS:
        assert twin in out, twin
    for code in worker_cli.EXIT_CODES:
        assert f"{code.value:<4}{code.name}" in out


def test_top_level_help_lists_the_worker(capsys: pytest.CaptureFixture[str]) -> None:
    """`queuekit --help` lists the worker subcommand and an example of it."""
    assert main(["--help"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "worker" in out
    assert "queuekit worker --help" in out


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag beats its variable; a variable beats the default."""
    monkeypatch.setenv("QUEUEKIT_CONCURRENCY", "5")
    monkeypatch.setenv("QUEUEKIT_PROCESSES", "3")
    settings = settings_for("app.tasks", "--concurrency", "7")
    assert (settings.concurrency, settings.processes) == (7, 3)


def test_every_flag_reaches_its_setting() -> None:
    """Each flag sets its WorkerSettings field, parsed."""
    settings = settings_for(
        "app.tasks",
        "app.more:tasks",
        "--url=redis://127.0.0.1:7000/1",
        "--queues=high,default",
        "--concurrency=20",
        "--processes=2",
        "--burst",
        "--shutdown-timeout=9.5",
        "--max-jobs=100",
        "--at-least-once=high",
        "--heartbeat-interval=1",
        "--heartbeat-ttl=3",
        "--metrics-port=9100",
        "--metrics-host=0.0.0.0",
        "--log-format=json",
        "--embedded",
    )
    assert settings == WorkerSettings(
        modules=("app.tasks", "app.more:tasks"),
        url="redis://127.0.0.1:7000/1",
        queues=("high", "default"),
        concurrency=20,
        processes=2,
        burst=True,
        shutdown_timeout_s=9.5,
        max_jobs=100,
        at_least_once=("high",),
        heartbeat_interval_s=1.0,
        heartbeat_ttl_s=3.0,
        metrics_port=9100,
        metrics_host="0.0.0.0",
        log_format="json",
        embedded=True,
    )


def test_at_least_once_without_a_value_means_every_queue() -> None:
    """`--at-least-once` alone makes every queue at-least-once."""
    settings = settings_for("app.tasks", "--queues", "a,b", "--at-least-once")
    assert settings.at_least_once == ("*",)
    assert settings.reliable("a") and settings.reliable("b")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["worker"], "name at least one MODULE"),
        (
            ["worker", "app.tasks", "--concurrency", "many"],
            "--concurrency 'many' is not an integer",
        ),
        (["worker", "app.tasks", "--processes", "0"], "processes 0 must be between 1 and 256"),
        (["worker", "app.tasks", "--url", "memory://"], "private to one process"),
        (["worker", "no_such_module_for_cli"], "cannot import worker module"),
        (["worker", "--check", "app.tasks"], "--check takes no MODULE"),
        (["worker", "--check", "--stall-after", "0"], "--stall-after 0 must be more than 0"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad arguments or a module that cannot load exit USAGE and say what is wrong."""
    assert main(argv) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_check_without_a_store_exits_store_unavailable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--check exits STORE_UNAVAILABLE when the store does not answer."""
    url = f"redis://127.0.0.1:{free_port()}/0?retry_for=0"
    assert main(["worker", "--check", "--url", url]) == ExitCode.STORE_UNAVAILABLE
    assert "cannot connect" in capsys.readouterr().err


# -- end to end: the real command, its processes and the lead's runtime -----------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a tasks module, the current directory of the worker command."""
    (tmp_path / "e2e_tasks.py").write_text(textwrap.dedent(TASKS_MODULE))
    return tmp_path


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with running_server() as running:
        yield running


def worker_command(*argv: str) -> list[str]:
    return [sys.executable, "-W", "error", "-m", "queuekit", "worker", *argv]


def run_worker(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        worker_command(*argv, "--log-format", "json"),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def test_burst_runs_enqueued_jobs_and_exits_ok(project: Path, server: RunningServer) -> None:
    """`queuekit worker MODULE --burst` runs what was enqueued on a server, then exits 0."""
    with connect(server.url) as client:
        jobs = JobClient(client)
        added = [jobs.enqueue("add", n, n, _queue="math") for n in range(20)]
        shouted = [jobs.enqueue("shout", "hi") for _ in range(5)]
        result = run_worker(
            project, "e2e_tasks", "--burst", "--url", server.url, "--queues", "math,default"
        )
        assert result.returncode == ExitCode.OK, result.stderr
        assert all(job is not None for job in added + shouted)
        statuses = {job.status() for job in added + shouted if job is not None}
        assert statuses == {JobStatus.SUCCEEDED}
        assert client.execute(b"SMEMBERS", K.WORKERS) in (set(), [])  # deregistered on exit
    assert "worker_spawned" in result.stderr


def test_embedded_burst_needs_nothing_else(project: Path) -> None:
    """`--embedded --burst` serves its own store, runs, stops it and exits 0."""
    port = free_port()
    result = run_worker(
        project, "e2e_tasks", "--embedded", "--burst", "--url", f"redis://127.0.0.1:{port}/0"
    )
    assert result.returncode == ExitCode.OK, result.stderr
    assert "embedded_store_ready" in result.stderr
    assert "embedded_store_stopped" in result.stderr


@pytest.mark.parametrize(
    ("signum", "expected"),
    [(signal.SIGTERM, ExitCode.OK), (signal.SIGINT, ExitCode.INTERRUPTED)],
)
def test_a_running_worker_passes_check_and_stops_on_a_signal(
    project: Path, signum: int, expected: ExitCode, capsys: pytest.CaptureFixture[str]
) -> None:
    """A live worker passes --check; a signal to the supervisor drains it to the named code."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        worker_command("e2e_tasks", "--embedded", "--url", url, "--processes", "2"),
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_workers(url, 2, process)
        assert main(["worker", "--check", "--url", url]) == ExitCode.OK
        assert capsys.readouterr().out.count(": alive;") == 2
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == expected, stderr
    assert stderr.count("worker_exited") == 2


def test_workers_of_a_killed_supervisor_drain_and_deregister(
    project: Path, server: RunningServer
) -> None:
    """After a SIGKILL of the supervisor its worker processes stop on their own and leave
    the registry, instead of running on unsupervised."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        worker_command("e2e_tasks", "--url", server.url, "--processes", "2"),
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_workers(server.url, 2, process)
    finally:
        process.kill()
        process.wait(RUN_TIMEOUT_S)
    with connect(server.url) as client:
        deadline = time.monotonic() + WAIT_S
        while client.execute(b"SCARD", K.WORKERS) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = client.execute(b"SMEMBERS", K.WORKERS)
        for worker_id in left:  # never leave orphans behind a failed test
            pid = client.execute(b"HGET", K.worker_info(worker_id.decode()), b"pid")
            with contextlib.suppress(ProcessLookupError, TypeError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        assert not left


def test_one_metrics_endpoint_covers_every_worker_process(
    project: Path, server: RunningServer
) -> None:
    """--metrics-port: one /metrics sums the jobs of both worker processes, beside the
    store's figures read at scrape time."""
    port = free_port()
    with connect(server.url) as client:
        jobs = JobClient(client)
        for _ in range(30):
            jobs.enqueue("shout", "hi")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    argv = ["--url", server.url, "--processes", "2", "--metrics-port", str(port)]
    process = subprocess.Popen(
        worker_command("e2e_tasks", *argv, "--heartbeat-interval", "0.2"),
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_workers(server.url, 2, process)
        deadline = time.monotonic() + WAIT_S
        while (samples := scrape(port)).get(SUCCESSES) != 30.0:
            assert time.monotonic() < deadline, f"metrics never showed 30 successes: {samples}"
            time.sleep(0.1)
        assert samples["queuekit_workers_alive"] == 2.0
        assert samples['queuekit_queue_length{queue="default"}'] == 0.0
        assert samples["queuekit_in_progress_jobs"] == 0.0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(RUN_TIMEOUT_S)
    assert process.returncode == ExitCode.OK


SUCCESSES = 'queuekit_jobs_completed_total{outcome="success",queue="default",task="shout"}'


def scrape(port: int) -> dict[str, float]:
    """The samples of the endpoint on `port`, by name and labels as exposed."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as reply:
            text = reply.read().decode()
    except OSError:
        return {}
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def wait_for_workers(url: str, count: int, process: subprocess.Popen[Any]) -> None:
    """Wait until `count` workers registered on the store at `url`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the worker command exited early"
        try:
            with connect(url + "?retry_for=0") as client:
                if len(client.execute(b"SMEMBERS", K.WORKERS)) >= count:
                    return
        except ConnectionError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{count} workers did not register within {WAIT_S} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
