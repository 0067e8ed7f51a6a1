"""Fake worker-process targets for the supervisor tests.

Each is a module-level function the supervisor's spawned children can
unpickle (bound to its arguments with functools.partial), taking the
WorkerSettings last and returning an exit code. They leave files in a
folder the test gives, so the test sees what each child did: `<pid>.ready`
once its signal handlers are in place, `<pid>.signals` with one signal name
per line, `<pid>.exited` as its last act.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from queuekit.connect import connect
from queuekit.exitcodes import ExitCode
from queuekit.worker.settings import WorkerSettings

CHILD_WAIT_S = 120.0  # a fake child never outlives this, whatever the test does


def exit_with(code: int, settings: WorkerSettings) -> int:
    """Exit at once with `code`."""
    return code


def kill_self(signum: int, settings: WorkerSettings) -> int:
    """Die of signal `signum`, as a child the OOM killer took."""
    os.kill(os.getpid(), signum)
    time.sleep(CHILD_WAIT_S)
    return ExitCode.OK


def recycle_once(folder: str, settings: WorkerSettings) -> int:
    """The first child asks to be recycled; every later one finishes its burst."""
    try:
        os.close(os.open(Path(folder) / "recycled", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return ExitCode.OK
    return ExitCode.RECYCLE


def crash_times(folder: str, crashes: int, settings: WorkerSettings) -> int:
    """Crash (exit 1) the first `crashes` times a child starts, then finish OK."""
    runs = Path(folder) / "runs"
    with runs.open("a") as file:
        file.write("run\n")
    return 1 if len(runs.read_text().splitlines()) <= crashes else ExitCode.OK


def wait_for_signals(folder: str, needed: int, code: int, settings: WorkerSettings) -> int:
    """Record each SIGTERM/SIGINT; once `needed` came, exit with `code`."""
    pid = os.getpid()
    base = Path(folder)
    got: list[str] = []

    def record(signum: int, frame: object) -> None:
        got.append(signal.Signals(signum).name)
        with (base / f"{pid}.signals").open("a") as file:
            file.write(signal.Signals(signum).name + "\n")

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, record)
    (base / f"{pid}.ready").write_text(f"pgrp={os.getpgrp()}\n")
    deadline = time.monotonic() + CHILD_WAIT_S
    while len(got) < needed and time.monotonic() < deadline:
        time.sleep(0.01)
    (base / f"{pid}.exited").write_text(str(code))
    return code


def ignore_signals(folder: str, settings: WorkerSettings) -> int:
    """Ignore SIGTERM and SIGINT: only SIGKILL ends this child."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    (Path(folder) / f"{os.getpid()}.ready").write_text("ignoring\n")
    time.sleep(CHILD_WAIT_S)
    return ExitCode.OK


def first_waits_others_crash(folder: str, settings: WorkerSettings) -> int:
    """The first child to start waits for a signal; every other one crashes at once."""
    try:
        os.close(os.open(Path(folder) / "waiter", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        # crash only once the waiter can record the supervisor's SIGTERM
        deadline = time.monotonic() + CHILD_WAIT_S
        while not list(Path(folder).glob("*.ready")) and time.monotonic() < deadline:
            time.sleep(0.01)
        return 1
    return wait_for_signals(folder, 1, ExitCode.OK, settings)


def ping_store(settings: WorkerSettings) -> int:
    """OK if the store at settings.url answers PING (the embedded store's URL)."""
    client = connect(settings.url)
    try:
        return ExitCode.OK if client.execute(b"PING") in (b"PONG", "PONG", True) else 1
    finally:
        client.close()
