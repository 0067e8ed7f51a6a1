"""`queuekit info` on every store: the table, --json, --watch, and an unreachable store.

The network stores run the command as `queuekit info --url ...` would (connect,
print, close); memory:// cannot be reached from another process, so there the
module's `run` is handed the test's client. Both read the store's fake clock.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import socket
import sys
from typing import Any

import pytest

from queuekit import info
from queuekit.cli import EPILOG, build_parser, main
from queuekit.client.memory import MemoryClient, MemoryStore
from queuekit.connect import connect
from queuekit.engine.clock import FakeClock
from queuekit.errors import NoAuthError
from queuekit.exitcodes import ExitCode
from queuekit.jobs import JobClient, TaskSet, Worker
from queuekit.jobs import keys as K
from queuekit.worker import bookkeeping
from queuekit.worker.health import WorkerInfo
from queuekit.worker.reaper import reap
from tests.jobs.conftest import Store, jobs_server, network_url, store

__all__ = ["jobs_server", "network_url", "store"]  # the job layer's store fixtures, used here

LIVE = "host-a:101:aaaaaa"
DEAD = "host-b:202:bbbbbb"  # died holding a job: reaped, the job counted lost
GONE = "host-c:303:cccccc"  # heartbeat expired, not yet reaped: shown dead
ALIVE_MS = 600_000  # the live worker's heartbeat outlives any test


def tasks() -> TaskSet:
    tasks = TaskSet()

    @tasks.task(name="app.ok")
    def ok(n: int) -> int:
        return n

    @tasks.task(name="app.boom", retries=1, backoff=1.0)
    def boom() -> None:
        raise ValueError("boom")

    return tasks


def send(store: Store, commands: list[Any]) -> None:
    for argv in commands:
        store.client.execute(*argv)


def fill(store: Store) -> None:
    """Two queues with every figure non-zero somewhere, a live, a reaped and a dead worker.

    default: 3 ready (one holding a dedup key), 1 scheduled, 1 failed after 1 retry,
    3 succeeded, peak 4, the oldest 5 s old. mail: 4 ready, 1 lost (its worker died holding it).
    """
    registry = tasks()
    jobs = store.jobs(registry)
    for n in range(3):
        jobs.enqueue("app.ok", n)
    jobs.enqueue("app.boom")
    for _ in range(2):  # the first run retries app.boom, the second (once due) fails it
        Worker(store.client, registry, clock=store.clock).run_burst()
        store.clock.advance(60)
    jobs.enqueue("app.ok", 10)
    jobs.enqueue("app.ok", 11, _delay=600)
    jobs.enqueue("app.ok", 12, _dedup_key="once")
    jobs.enqueue("app.ok", 13)
    send(store, [bookkeeping.peak(K.queue_keys("default").peak, 4)])
    store.clock.advance(5)  # default's oldest ready job is 5 s old

    mail = K.queue_keys("mail")
    held = jobs.enqueue("app.ok", 20, _queue="mail")
    assert held is not None
    store.client.execute(b"RPOP", mail.ready[1])  # fetched by DEAD, which then died
    for n in range(3):
        jobs.enqueue("app.ok", 21 + n, _queue="mail")
    jobs.enqueue("app.ok", 24, _queue="mail", _priority="high")
    now_ms = store.clock.now_ms()
    send(store, bookkeeping.register(DEAD, ["mail"], [], 4, now_ms - 9000, ALIVE_MS)[:2])
    send(store, bookkeeping.started(mail, DEAD, [held.id], now_ms - 5000))
    send(store, [bookkeeping.total_in_progress(1)])
    store.run(_reap(store, now_ms))

    send(store, bookkeeping.register(LIVE, ["default", "mail"], [], 8, now_ms - 60_000, ALIVE_MS))
    send(store, bookkeeping.progress(LIVE, 5, 1, now_ms - 3000))
    send(store, bookkeeping.register(GONE, ["mail"], [], 2, now_ms - 90_000, ALIVE_MS)[:2])


async def _reap(store: Store, now_ms: int) -> None:
    client = store.async_client()
    try:
        reaped = await reap(client, LIVE, ("mail",), now_ms)
    finally:
        await client.aclose()
    assert [len(result.lost) for result in reaped] == [1]


def run_info(store: Store, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    """`queuekit info FLAGS` on `store` at its fake clock's time: the exit code and stdout."""
    capsys.readouterr()  # drop what fill() logged
    args = build_parser().parse_args(["info", "--url", store.url or "memory://", *flags])
    if store.url is None:
        code = info.run(store.client, info.options_from(args), store.clock, sys.stdout)
    else:
        code = info.main(args, clock=store.clock)
    return code, capsys.readouterr().out


def rows(out: str, first: str) -> dict[str, list[str]]:
    """The table that starts with the header cell `first`, as {first cell: cells}; cells
    are split on runs of two or more spaces, as the table separates them."""
    lines = out.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(first + " "))
    table = {}
    for line in lines[start:]:
        if not line.strip():
            break
        cells = [cell for cell in line.split("  ") if cell.strip()]
        table[cells[0].strip()] = [cell.strip() for cell in cells]
    return table


def test_the_table_shows_each_queue_s_figures(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ready, oldest, scheduled, running, peak, failed, dedup, lost and totals per queue."""
    fill(store)
    code, out = run_info(store, capsys)
    assert code == ExitCode.OK
    queues = rows(out, "QUEUE")
    assert queues["QUEUE"] == list(info.QUEUE_HEADERS)
    assert queues["default"] == [
        *("default", "3", "5 s", "1", "0", "4", "1", "1", "0"),
        *("3", "1", "1"),
    ]
    assert queues["mail"] == ["mail", "4", "0 s", "0", "0", "0", "0", "0", "1", "0", "0", "0"]
    assert "in progress 0 (peak 0)  workers 1 alive of 2" in out.splitlines()[0]


def test_the_table_shows_each_worker_and_its_state(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A live worker with its figures and last progress; an unreaped dead one; no reaped one."""
    fill(store)
    host = socket.gethostname()
    workers = rows(run_info(store, capsys)[1], "WORKER")
    assert workers["WORKER"] == list(info.WORKER_HEADERS)
    assert workers[LIVE][1:] == [
        host,
        str(os.getpid()),
        "default,mail",
        "5",
        "1",
        "3 s ago",
        "alive",
    ]
    assert workers[GONE][-2:] == ["never", "dead"]
    assert DEAD not in workers


def test_a_live_worker_that_does_not_consume_shows_stalled(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """With jobs ready and no job finished within --stall-after, a live worker is stalled."""
    fill(store)
    code, out = run_info(store, capsys, "--stall-after", "2")
    assert code == ExitCode.OK
    assert rows(out, "WORKER")[LIVE][-1] == "stalled"
    assert "no job finished in the last 2 s" in out


def test_queues_limits_the_table_to_the_named_queues(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """--queues mail shows mail only, even with default known to the store."""
    fill(store)
    queues = rows(run_info(store, capsys, "--queues", "mail")[1], "QUEUE")
    assert sorted(queues) == ["QUEUE", "mail"]


def test_json_has_the_documented_shape(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one object: store, in_progress, peak, queues and workers, as documented."""
    fill(store)
    code, out = run_info(store, capsys, "--json")
    assert code == ExitCode.OK
    shape = json.loads(out)
    assert sorted(shape) == ["in_progress", "peak", "queues", "store", "workers"]
    assert shape["store"] == {
        "url": store.url or "memory://",
        "up": True,
        "error": None,
        "read_at": store.clock.now_ms() / 1000,
    }
    default, mail = shape["queues"]
    assert default == {
        "queue": "default",
        "length": 3,
        "oldest_age_s": 5.0,
        "scheduled": 1,
        "in_progress": 0,
        "peak": 4,
        "failed": 1,
        "dedup": 1,
        "lost": 0,
        "totals": default["totals"] | {"succeeded": 3, "failed": 1, "retried": 1},
    }
    assert (mail["queue"], mail["length"], mail["lost"], mail["totals"]["lost"]) == (
        "mail",
        4,
        1,
        1,
    )
    assert mail["totals"]["succeeded"] == 0  # always present, even when never counted
    live, gone = shape["workers"]  # sorted by id
    assert live == {
        "id": LIVE,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "queues": ["default", "mail"],
        "reliable_queues": [],
        "started_at": store.clock.now_ms() / 1000 - 60,
        "jobs_done": 5,
        "in_flight": 1,
        "last_progress": store.clock.now_ms() / 1000 - 3,
        "idle_s": 3.0,
        "state": "alive",
    }
    assert (gone["id"], gone["last_progress"], gone["state"]) == (GONE, None, "dead")


def test_watch_count_prints_that_many_blocks(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """--watch --count 2 refreshes twice, as plain repeated blocks when not on a terminal."""
    fill(store)
    code, out = run_info(store, capsys, "--watch", "0.01", "--count", "2")
    assert code == ExitCode.OK
    assert out.count("queuekit info  ") == 2
    assert out.count("\nQUEUE ") == 2
    assert info.CLEAR_SCREEN not in out


def test_watch_json_prints_one_object_per_line(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """--watch with --json prints JSON Lines: one complete object per refresh."""
    fill(store)
    code, out = run_info(store, capsys, "--json", "--watch", "0.01", "--count", "3")
    assert code == ExitCode.OK
    lines = out.splitlines()
    assert len(lines) == 3
    assert all(json.loads(line)["store"]["up"] for line in lines)


def test_watch_on_a_terminal_clears_the_screen_each_refresh() -> None:
    """On a terminal each refresh starts with ANSI cursor-home and erase-screen."""
    out = Terminal()
    memory = MemoryStore(clock=FakeClock())
    args = build_parser().parse_args(["info", "--url", "memory://", "--watch", "0.01"])
    try:
        code = info.run(MemoryClient(memory), counted(args, 2), FakeClock(), out)
    finally:
        memory.close()
    assert code == ExitCode.OK
    assert out.getvalue().count(info.CLEAR_SCREEN) == 2
    assert out.getvalue().startswith(info.CLEAR_SCREEN + "queuekit info  memory://")


def test_an_empty_store_says_so(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """With nothing enqueued and no worker, the table says both in words."""
    code, out = run_info(store, capsys)
    assert code == ExitCode.OK
    assert "no queues yet: nothing was enqueued" in out
    assert "no workers registered" in out


def test_an_unreachable_store_exits_store_unavailable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A URL nobody listens on: exit 3 with one line on stderr naming the URL, no password."""
    port = free_port()
    code = main(["info", "--url", f"redis://:secret@127.0.0.1:{port}/0?retry_for=0"])
    assert code == ExitCode.STORE_UNAVAILABLE == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("queuekit info: ")
    assert f"redis://127.0.0.1:{port}/0" in lines[0]
    assert "secret" not in lines[0]


def test_a_store_lost_during_watch_shows_down_and_the_watch_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a first good read, a refresh that fails prints the store as down, not a crash."""
    reads = iter([None, NoAuthError("NOAUTH Authentication required.")])
    real = info.read_snapshot

    def read_snapshot(*args: Any) -> info.Snapshot:
        error = next(reads)
        if error is not None:
            raise error
        return real(*args)

    monkeypatch.setattr(info, "read_snapshot", read_snapshot)
    memory = MemoryStore(clock=FakeClock())
    out = io.StringIO()
    args = build_parser().parse_args(["info", "--url", "memory://", "--watch", "0.01"])
    try:
        code = info.run(MemoryClient(memory), counted(args, 2), FakeClock(), out)
    finally:
        memory.close()
    assert code == ExitCode.STORE_UNAVAILABLE  # the last refresh found it down
    first, second = out.getvalue().split("queuekit info  ")[1:]
    assert "no queues yet" in first
    assert second.splitlines()[1] == "store DOWN: store memory://: NOAUTH Authentication required."


@pytest.mark.parametrize("network_url", ["queuekit", "redis"], indirect=True)
def test_the_console_command_prints_json_on_the_real_clock(
    network_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`queuekit info --url URL --json` through the top-level CLI reads a job just enqueued."""
    client = connect(network_url)
    try:
        assert JobClient(client, tasks=tasks()).enqueue("app.ok", 1) is not None
    finally:
        client.close()
    capsys.readouterr()
    assert main(["info", "--url", network_url, "--json"]) == ExitCode.OK
    shape = json.loads(capsys.readouterr().out)
    assert shape["store"]["up"] is True
    assert [(q["queue"], q["length"], q["totals"]["enqueued"]) for q in shape["queues"]] == [
        ("default", 1, 1)
    ]
    assert shape["workers"] == []


@pytest.mark.parametrize("network_url", ["queuekit", "redis"], indirect=True)
def test_ctrl_c_ends_a_watch_with_130(
    network_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during a refresh ends --watch with exit 130 after the blocks it printed."""
    reads = iter([False, True])
    real = info.read_snapshot

    def read_snapshot(*args: Any) -> info.Snapshot:
        if next(reads):
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(info, "read_snapshot", read_snapshot)
    code = main(["info", "--url", network_url, "--watch", "0.01"])
    assert code == ExitCode.INTERRUPTED == 130
    assert capsys.readouterr().out.count("queuekit info  ") == 1


def test_the_url_comes_from_queuekit_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --url, QUEUEKIT_URL names the store (here one that is not there)."""
    port = free_port()
    monkeypatch.setenv("QUEUEKIT_URL", f"redis://127.0.0.1:{port}/0?retry_for=0")
    assert main(["info"]) == ExitCode.STORE_UNAVAILABLE
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--url", "memory://"], "private to one process"),
        (["--url", "http://x"], "unknown scheme 'http'"),
        (["--queues", "a{b}"], "hash tag"),
        (["--queues", ","], "names no queue"),
        (["--stall-after", "0"], "--stall-after 0 must be more than 0 seconds"),
        (["--watch", "0"], "--watch 0 must be more than 0 seconds"),
        (["--count", "2"], "--count 2 needs --watch"),
        (["--watch", "1", "--count", "0"], "--count 0 needs --watch and must be at least 1"),
    ],
)
def test_bad_flags_exit_usage_naming_the_value(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each bad flag exits USAGE with a message naming it, before any store is contacted."""
    assert main(["info", *flags]) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_help_shows_runnable_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """`queuekit info --help` shows examples and exit codes; the top help lists info."""
    assert main(["info", "--help"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "queuekit info --watch" in out and "--json" in out and "STORE_UNAVAILABLE" in out
    assert "queuekit info --watch" in EPILOG


def test_span_reads_like_people_say_it() -> None:
    """Durations read in the largest sensible unit."""
    assert [info.span(s) for s in (0, 3.4, 119, 120, 5400, 7200, 90_000, 200_000)] == [
        *("0 s", "3 s", "119 s", "2 min", "90 min", "2 h", "25 h", "2 d"),
    ]


def test_a_stalled_worker_record_renders_its_state() -> None:
    """worker_state maps the registry's alive and stalled flags to one word."""
    base = WorkerInfo("w", "h", 1, ("default",), 0.0, 0, 0, None, True, False)
    stalled = WorkerInfo("w", "h", 1, ("default",), 0.0, 0, 0, None, True, True)
    dead = WorkerInfo("w", "h", 1, ("default",), 0.0, 0, 0, None, False, False)
    assert [info.worker_state(w) for w in (base, stalled, dead)] == ["alive", "stalled", "dead"]


# -- helpers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def counted(args: argparse.Namespace, count: int) -> info.Options:
    """The options of `args`, stopping after `count` refreshes."""
    return dataclasses.replace(info.options_from(args), count=count)


class Terminal(io.StringIO):
    """Standard output as a terminal sees it."""

    def isatty(self) -> bool:
        return True
