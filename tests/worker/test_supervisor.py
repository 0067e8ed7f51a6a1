"""The supervisor with fake children: restarts, backoff, crash loops, recycling, signals.

The children are small functions (tests/worker/children.py) run in real
spawned processes; the restart policy's delays are shrunk to milliseconds.
No assertion is about timing: waits are bounded and generous.
"""

from __future__ import annotations

import functools
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from queuekit.errors import UsageError
from queuekit.exitcodes import ExitCode
from queuekit.server.app import Listening
from queuekit.worker.settings import WorkerSettings
from queuekit.worker.supervisor import RestartPolicy, Supervisor, child_url, embedded_config
from tests.worker import children

WAIT_S = 60.0  # bound on every wait for children
FAST = RestartPolicy(
    initial_backoff_s=0.001,
    max_backoff_s=0.004,
    crash_limit=3,
    stop_grace_s=WAIT_S,
    kill_after_s=WAIT_S,
)


def supervisor(
    target: Callable[..., Any], policy: RestartPolicy = FAST, **settings: Any
) -> Supervisor:
    return Supervisor(WorkerSettings(**settings), target=target, policy=policy, probe_store=False)


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def ready_pids(folder: Path) -> list[int]:
    return sorted(int(path.stem) for path in folder.glob("*.ready"))


def signals_of(folder: Path, pid: int) -> list[str]:
    path = folder / f"{pid}.signals"
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def stopper() -> Iterator[Callable[..., threading.Thread]]:
    """Start a thread that sends stop requests once children are ready; join it after."""
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []

    def start(sup: Supervisor, folder: Path, count: int, *signums: int) -> threading.Thread:
        def run() -> None:
            try:
                wait_for(lambda: len(ready_pids(folder)) >= count, f"{count} ready children")
                for n, signum in enumerate(signums):
                    sup.request_stop(signum)
                    wait_for(
                        lambda n=n: all(
                            len(signals_of(folder, pid)) > n for pid in ready_pids(folder)
                        ),
                        f"signal {n + 1} recorded",
                    )
            except BaseException as error:  # reported by the test, never a hang
                errors.append(error)
                sup.request_stop(signal.SIGTERM)
                sup.request_stop(signal.SIGTERM)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.join(WAIT_S)
    if errors:
        raise errors[0]


def test_backoff_doubles_to_its_cap_then_gives_up() -> None:
    """The default policy waits 0.5 s doubling to 30 s, and gives up after 10 fast crashes."""
    policy = RestartPolicy()
    delays = [policy.backoff_s(n) for n in range(1, 12)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0, None]


def test_a_crashing_child_is_restarted_with_backoff_until_crash_loop() -> None:
    """A child that keeps crashing is restarted, counted and logged, then CRASH_LOOP."""
    sup = supervisor(functools.partial(children.exit_with, 1))
    with capture_logs() as logs:
        assert sup.run() == ExitCode.CRASH_LOOP
    assert sup.restarts == FAST.crash_limit
    restarted = events(logs, "worker_restarted")
    assert [entry["restarts"] for entry in restarted] == [1, 2, 3]
    assert [entry["backoff_s"] for entry in restarted] == [0.001, 0.002, 0.004]
    assert {entry["exit_code"] for entry in restarted} == {1}
    assert all(isinstance(entry["pid"], int) for entry in restarted)
    assert len(events(logs, "worker_crash_loop")) == 1


def test_a_child_killed_by_a_signal_is_logged_with_it() -> None:
    """A child that dies of a signal is restarted, and the log names the signal."""
    sup = supervisor(functools.partial(children.kill_self, signal.SIGKILL))
    with capture_logs() as logs:
        assert sup.run() == ExitCode.CRASH_LOOP
    restarted = events(logs, "worker_restarted")
    assert restarted[0]["exit_code"] == -signal.SIGKILL
    assert restarted[0]["signal"] == "SIGKILL"


def test_repeated_store_unavailable_exits_store_unavailable() -> None:
    """Children that keep exiting STORE_UNAVAILABLE make the supervisor say so, not CRASH_LOOP."""
    sup = supervisor(functools.partial(children.exit_with, ExitCode.STORE_UNAVAILABLE))
    assert sup.run() == ExitCode.STORE_UNAVAILABLE
    assert sup.restarts == FAST.crash_limit


def test_a_healthy_run_resets_the_backoff(tmp_path: Path) -> None:
    """Crashes after a run longer than healthy_after_s do not add up to a crash loop."""
    policy = RestartPolicy(initial_backoff_s=0.001, healthy_after_s=0.0, crash_limit=1)
    sup = supervisor(functools.partial(children.crash_times, str(tmp_path), 3), policy, burst=True)
    assert sup.run() == ExitCode.OK
    assert sup.restarts == 3


def test_fast_crashes_add_up_to_a_crash_loop(tmp_path: Path) -> None:
    """The same crashes, each before healthy_after_s, exhaust a crash limit of 1."""
    policy = RestartPolicy(initial_backoff_s=0.001, healthy_after_s=3600.0, crash_limit=1)
    sup = supervisor(functools.partial(children.crash_times, str(tmp_path), 3), policy, burst=True)
    assert sup.run() == ExitCode.CRASH_LOOP
    assert sup.restarts == 1


def test_recycle_is_replaced_at_once_and_is_no_crash(tmp_path: Path) -> None:
    """A child exiting RECYCLE is replaced, counted as a recycle, never as a crash."""
    no_crash_allowed = RestartPolicy(crash_limit=0)
    sup = supervisor(
        functools.partial(children.recycle_once, str(tmp_path)), no_crash_allowed, burst=True
    )
    with capture_logs() as logs:
        assert sup.run() == ExitCode.OK
    assert (sup.recycles, sup.restarts) == (1, 0)
    assert len(events(logs, "worker_recycled")) == 1


def test_burst_exits_ok_once_every_child_finished() -> None:
    """In burst mode each child exiting OK is done; the supervisor exits OK after all."""
    sup = supervisor(functools.partial(children.exit_with, 0), burst=True, processes=3)
    with capture_logs() as logs:
        assert sup.run() == ExitCode.OK
    assert len(events(logs, "worker_spawned")) == 3
    assert len(events(logs, "worker_exited")) == 3
    assert sup.restarts == 0


def test_a_clean_exit_outside_burst_is_unexpected() -> None:
    """Outside burst mode a child exiting OK unasked is restarted like a crash."""
    sup = supervisor(functools.partial(children.exit_with, 0))
    assert sup.run() == ExitCode.CRASH_LOOP
    assert sup.restarts == FAST.crash_limit


def test_sigterm_is_forwarded_to_every_child(
    tmp_path: Path, stopper: Callable[..., threading.Thread]
) -> None:
    """One SIGTERM reaches each child once; they drain and the supervisor exits OK."""
    target = functools.partial(children.wait_for_signals, str(tmp_path), 1, ExitCode.OK)
    sup = supervisor(target, processes=2)
    stopper(sup, tmp_path, 2, signal.SIGTERM)
    assert sup.run() == ExitCode.OK
    pids = ready_pids(tmp_path)
    assert len(pids) == 2
    assert [signals_of(tmp_path, pid) for pid in pids] == [["SIGTERM"], ["SIGTERM"]]
    assert sup.restarts == 0


def test_children_run_in_their_own_process_group(
    tmp_path: Path, stopper: Callable[..., threading.Thread]
) -> None:
    """A child leads its own process group, so a terminal's Ctrl-C reaches it only through
    the supervisor."""
    target = functools.partial(children.wait_for_signals, str(tmp_path), 1, ExitCode.OK)
    sup = supervisor(target)
    stopper(sup, tmp_path, 1, signal.SIGTERM)
    sup.run()
    (pid,) = ready_pids(tmp_path)
    assert (tmp_path / f"{pid}.ready").read_text().strip() == f"pgrp={pid}"


def test_sigint_is_forwarded_and_exits_interrupted(
    tmp_path: Path, stopper: Callable[..., threading.Thread]
) -> None:
    """SIGINT is forwarded as SIGINT, and the supervisor exits INTERRUPTED."""
    target = functools.partial(children.wait_for_signals, str(tmp_path), 1, ExitCode.OK)
    sup = supervisor(target)
    stopper(sup, tmp_path, 1, signal.SIGINT)
    assert sup.run() == ExitCode.INTERRUPTED
    assert [signals_of(tmp_path, pid) for pid in ready_pids(tmp_path)] == [["SIGINT"]]


def test_a_second_signal_is_forwarded_and_drain_timeout_reported(
    tmp_path: Path, stopper: Callable[..., threading.Thread]
) -> None:
    """The second signal reaches the children too; a child's DRAIN_TIMEOUT becomes the exit."""
    target = functools.partial(children.wait_for_signals, str(tmp_path), 2, ExitCode.DRAIN_TIMEOUT)
    sup = supervisor(target, processes=2)
    stopper(sup, tmp_path, 2, signal.SIGTERM, signal.SIGTERM)
    assert sup.run() == ExitCode.DRAIN_TIMEOUT
    assert [signals_of(tmp_path, pid) for pid in ready_pids(tmp_path)] == [
        ["SIGTERM", "SIGTERM"],
        ["SIGTERM", "SIGTERM"],
    ]


def test_overdue_children_get_the_second_signal_from_the_supervisor(
    tmp_path: Path, stopper: Callable[..., threading.Thread]
) -> None:
    """A child still draining past the deadline gets the immediate-stop signal unasked."""
    target = functools.partial(children.wait_for_signals, str(tmp_path), 2, ExitCode.DRAIN_TIMEOUT)
    # kill_after_s ends the run should the two SIGTERMs reach the child as one
    policy = RestartPolicy(stop_grace_s=0.01, kill_after_s=5.0)
    sup = supervisor(target, policy, shutdown_timeout_s=0.01)
    stopper(sup, tmp_path, 1, signal.SIGTERM)
    with capture_logs() as logs:
        assert sup.run() == ExitCode.DRAIN_TIMEOUT
    assert len(events(logs, "worker_drain_overdue")) == 1
    sent = events(logs, "workers_signalled")
    assert [entry["signal"] for entry in sent] == ["SIGTERM", "SIGTERM"]
    assert sent[0]["pids"] == sent[1]["pids"] == ready_pids(tmp_path)
    (pid,) = ready_pids(tmp_path)
    assert signals_of(tmp_path, pid)[0] == "SIGTERM"


def test_children_ignoring_signals_are_killed(
    tmp_path: Path, stopper: Callable[..., threading.Thread]
) -> None:
    """A child that ignores both signals is SIGKILLed, and shutdown ends DRAIN_TIMEOUT."""
    target = functools.partial(children.ignore_signals, str(tmp_path))
    policy = RestartPolicy(stop_grace_s=0.01, kill_after_s=0.01)
    sup = supervisor(target, policy, shutdown_timeout_s=0.01)
    thread = threading.Thread(
        target=lambda: (
            wait_for(lambda: len(ready_pids(tmp_path)) == 1, "a ready child"),
            sup.request_stop(signal.SIGTERM),
        ),
        daemon=True,
    )
    thread.start()
    with capture_logs() as logs:
        assert sup.run() == ExitCode.DRAIN_TIMEOUT
    thread.join(WAIT_S)
    assert events(logs, "worker_exited")[0]["exit_code"] == -signal.SIGKILL
    assert len(events(logs, "worker_killed")) == 1


def test_a_crash_loop_stops_the_other_children(tmp_path: Path) -> None:
    """When one position crash-loops, the supervisor stops the healthy children too."""
    target = functools.partial(children.first_waits_others_crash, str(tmp_path))
    sup = supervisor(target, processes=2)
    assert sup.run() == ExitCode.CRASH_LOOP
    assert [signals_of(tmp_path, pid) for pid in ready_pids(tmp_path)] == [["SIGTERM"]]


def test_a_stop_requested_before_start_starts_nothing() -> None:
    """A signal that came while the supervisor was setting up means no child starts."""
    sup = supervisor(functools.partial(children.exit_with, 1))
    sup.request_stop(signal.SIGTERM)
    with capture_logs() as logs:
        assert sup.run() == ExitCode.OK
    assert events(logs, "worker_spawned") == []


def test_an_unreachable_store_exits_store_unavailable_before_any_child() -> None:
    """The supervisor PINGs the store first; no answer exits STORE_UNAVAILABLE at once."""
    url = f"redis://127.0.0.1:{free_port()}/0?retry_for=0"
    sup = Supervisor(
        WorkerSettings(url=url), target=functools.partial(children.exit_with, 0), policy=FAST
    )
    with capture_logs() as logs:
        assert sup.run() == ExitCode.STORE_UNAVAILABLE
    assert events(logs, "worker_spawned") == []
    assert len(events(logs, "store_unavailable")) == 1


def test_embedded_store_serves_the_children() -> None:
    """--embedded serves the store (port 0: a free one) and children get its real URL."""
    settings = WorkerSettings(embedded=True, url="redis://127.0.0.1:0/0", burst=True)
    sup = Supervisor(settings, target=children.ping_store, policy=FAST)
    with capture_logs() as logs:
        assert sup.run() == ExitCode.OK
    (ready,) = events(logs, "embedded_store_ready")
    assert ready["port"] != 0
    assert len(events(logs, "embedded_store_stopped")) == 1
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", ready["port"]), 5):
        pass


def test_embedded_store_on_a_taken_port_is_a_usage_error() -> None:
    """--embedded on a port already in use fails with the address in the message."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = WorkerSettings(embedded=True, url=f"redis://127.0.0.1:{port}/0")
        sup = Supervisor(settings, target=children.ping_store, policy=FAST)
        with pytest.raises(UsageError, match=f"127.0.0.1:{port}"):
            sup.run()


def test_embedded_address_comes_from_the_url() -> None:
    """The embedded server binds the URL's host and port with its password; default 6390."""
    config = embedded_config("redis://:secret@0.0.0.0:7001/3")
    assert (config.bind, config.port, config.requirepass) == ("0.0.0.0", 7001, "secret")
    assert (embedded_config(None).bind, embedded_config(None).port) == ("127.0.0.1", 6390)
    assert embedded_config("redis://127.0.0.1:0").port == 0


def test_child_url_reaches_the_bound_port_on_loopback() -> None:
    """Children reach a wildcard-bound embedded store on loopback, with password and db kept."""
    listening = Listening("0.0.0.0", 7123, None)
    assert child_url("redis://:pw@0.0.0.0:0/3?timeout=5", listening) == (
        "redis://:pw@127.0.0.1:7123/3?timeout=5"
    )
    assert child_url(None, Listening("127.0.0.1", 6390, None)) == "redis://127.0.0.1:6390/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
