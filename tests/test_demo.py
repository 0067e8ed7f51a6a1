"""`queuekit demo`: the mix runs on 2 worker processes and the summary accounts for every job.

The end-to-end tests run `python -m queuekit demo` in a fresh interpreter from
the repository's root, as a user does, with its log file in the test's own
folder. The progress and summary rendering, and the mix of workers/demo.py,
are tested in-process.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuekit.demo import CONCURRENCY, PREFERRED_PORT, PROCESSES
from queuekit.demo_report import (
    BAR_WIDTH,
    Progress,
    ProgressView,
    Summary,
    percentile,
    render_progress,
    summary_lines,
)
from queuekit.exitcodes import ExitCode
from queuekit.jobs import Call
from workers import demo as demo_tasks

ROOT = Path(__file__).resolve().parent.parent
DEMO_TIMEOUT_S = 300
READY_TIMEOUT_S = 120
_ROW = re.compile(r"^  (\S.*?)\s{2,}(\S.*)$")
_MIX = re.compile(r"^\s+([\d,]+)  (demo\.\w+)\s")


def _number(text: str) -> int:
    return int(text.split()[0].replace(",", ""))


def _summary(out: str) -> dict[str, str]:
    """The summary's rows, name -> value (the lines after "summary")."""
    lines = out.splitlines()
    rows = lines[lines.index("summary") + 1 :]
    return {m[1]: m[2] for m in map(_ROW.match, rows) if m}


def _mix(out: str) -> dict[str, int]:
    """The enqueued mix as printed: task name -> calls."""
    return {m[2]: _number(m[1]) for m in map(_MIX.match, out.splitlines()) if m}


def _environment(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, TMPDIR=str(tmp_path))  # the demo's log file lands here
    env.pop("QUEUEKIT_URL", None)
    return env


@contextlib.contextmanager
def _default_port_held() -> Iterator[None]:
    """127.0.0.1:6390 taken for the block: by this listener, or already by someone else."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        with contextlib.suppress(OSError):  # taken already: just as good
            holder.bind(("127.0.0.1", PREFERRED_PORT))
            holder.listen()
        yield


@pytest.mark.slow
@pytest.mark.timeout(DEMO_TIMEOUT_S + 30)
def test_demo_runs_the_mix_and_accounts_for_every_job(tmp_path: Path) -> None:
    """With 6390 taken, the demo serves on a free port, runs 200 jobs, exits 0, and its
    summary's figures add up: every job finished, dedup, rate limit and retries seen."""
    with _default_port_held():
        result = subprocess.run(
            [sys.executable, "-W", "error", "-m", "queuekit", "demo", "--jobs", "200"],
            cwd=ROOT,
            env=_environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_S,
        )
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert f"({PREFERRED_PORT} is taken: a free port)" in out
    assert re.search(r"\d+ of \d+ jobs finished", out)  # plain progress lines: not a terminal

    mix, summary = _mix(out), _summary(out)
    assert sum(mix.values()) == 200  # every call listed, duplicates included
    offered, enqueued = re.findall(r"([\d,]+) offered, ([\d,]+) enqueued", summary["jobs"])[0]
    offered_n, enqueued_n = _number(offered), _number(enqueued)
    assert offered_n == 200
    succeeded, failed, lost = (_number(summary[name]) for name in ("succeeded", "failed", "lost"))
    assert (succeeded, failed, lost) == (enqueued_n, 0, 0)
    assert _number(summary["dedup hits"]) == offered_n - enqueued_n > 0
    assert _number(summary["rate-limit deferrals"]) > 0
    assert _number(summary["retried"]) == mix["demo.charge_card"] > 0  # each fails once
    assert 1 <= _number(summary["peak concurrency"]) <= PROCESSES * CONCURRENCY
    assert re.fullmatch(r"p50 [\d,]+ ms, p99 [\d,]+ ms  \(.*\)", summary["queue wait"])
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", summary["metrics served at"])
    assert Path(summary["logs"]).parent == tmp_path
    assert "job_finished" in Path(summary["logs"]).read_text()


@pytest.mark.slow
@pytest.mark.timeout(DEMO_TIMEOUT_S + 30)
def test_keep_running_serves_metrics_until_interrupted(tmp_path: Path) -> None:
    """--keep-running leaves /metrics up after the summary; Ctrl-C stops it and exits 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "queuekit", "demo", "--jobs", "100", "--keep-running"],
        cwd=ROOT,
        env=_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        out = ""
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        while "Ctrl-C stops them" not in out and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, f"the demo ended early:\n{out}"
            out += line
        url = _summary(out)["metrics served at"]
        with urllib.request.urlopen(url, timeout=READY_TIMEOUT_S) as response:
            assert b"queuekit_jobs_started_total" in response.read()
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=DEMO_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == ExitCode.OK, out + rest + err
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5).close()


# -- progress and summary rendering ----------------------------------------------------


def _progress(done: int, expected: int = 200, elapsed_s: float = 1.0) -> Progress:
    return Progress(
        elapsed_s=elapsed_s,
        expected=expected,
        succeeded=done,
        failed=0,
        lost=0,
        running=3,
        waiting=expected - done - 3,
        retried=2,
        deferred=7,
    )


def test_progress_on_a_terminal_is_a_bar_redrawn_in_place() -> None:
    """On a terminal a report returns to the line's start, fills the bar by the share of
    jobs finished, clears the rest of the line and never ends it."""
    text = render_progress(_progress(50), tty=True)
    assert text.startswith("\r[") and text.endswith("\x1b[K")
    assert "\n" not in text
    bar = text[2 : 2 + BAR_WIDTH]
    assert bar == "#" * (BAR_WIDTH // 4) + "." * (BAR_WIDTH - BAR_WIDTH // 4)
    assert "50/200 jobs" in text and "deferred 7" in text


def test_progress_elsewhere_is_whole_lines() -> None:
    """Off a terminal a report is one whole line with the counts, without a bar."""
    text = render_progress(_progress(50), tty=False)
    assert text.endswith("\n") and text.count("\n") == 1
    assert "\r" not in text and "#" not in text
    assert "50 of 200 jobs finished (50 succeeded, 0 failed)" in text
    assert "7 rate-limit deferrals" in text


def test_progress_view_writes_a_line_a_second_off_a_terminal() -> None:
    """Off a terminal the view writes at most one line a second, plus the final one."""
    stream = io.StringIO()
    view = ProgressView(stream, tty=False)
    for elapsed_s in (0.0, 0.4, 0.9, 1.0, 1.5, 2.2):
        view.show(_progress(10, elapsed_s=elapsed_s))
    view.show(_progress(200, elapsed_s=2.3), final=True)
    view.end()
    lines = stream.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines] == [
        "[   0.0 s",
        "[   1.0 s",
        "[   2.2 s",
        "[   2.3 s",
    ]


def test_progress_view_on_a_terminal_redraws_every_report_then_ends_the_line() -> None:
    """On a terminal every report is drawn, and `end` adds the one newline the bar lacks."""
    stream = io.StringIO()
    view = ProgressView(stream, tty=True)
    for elapsed_s in (0.0, 0.1, 0.2):
        view.show(_progress(10, elapsed_s=elapsed_s))
    view.end()
    view.end()
    text = stream.getvalue()
    assert text.count("\r") == 3
    assert text.endswith("\n") and text.count("\n") == 1


def test_summary_lines_show_each_figure_in_a_column() -> None:
    """The summary prints one named row per figure, throughput from jobs and run time."""
    summary = Summary(
        offered=1000,
        enqueued=900,
        succeeded=899,
        failed=1,
        lost=0,
        retried=50,
        dedup_hits=100,
        deferrals=200,
        peak=20,
        slots=20,
        run_s=4.5,
        wait_p50_ms=12.4,
        wait_p99_ms=2310.0,
        waits=850,
    )
    lines = summary_lines(summary, "http://127.0.0.1:9400/metrics", "/tmp/demo.log")
    rows = _summary("\n".join(lines))
    assert lines[0] == "summary" and len(rows) == len(lines) - 1
    assert rows["jobs"] == "1,000 offered, 900 enqueued"
    assert rows["throughput"] == "200.0 jobs/s over 4.50 s"
    assert rows["queue wait"].startswith("p50 12 ms, p99 2,310 ms")
    assert rows["peak concurrency"] == "20  (of 20 slots)"
    assert rows["metrics served at"] == "http://127.0.0.1:9400/metrics"


def test_percentile_is_nearest_rank() -> None:
    """p50 and p99 pick the nearest-rank value; no values give 0."""
    values = [float(n) for n in range(100, 0, -1)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


# -- workers/demo.py ---------------------------------------------------------------------


def _task_counts(batches: list[list[Call]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for batch in batches:
        for planned in batch:
            name = planned.task if isinstance(planned.task, str) else planned.task.name
            counts[name] = counts.get(name, 0) + 1
    return counts


def test_mix_is_deterministic_and_holds_every_kind_of_job() -> None:
    """mix(n) makes n calls of every task, the same each time, with the rate-limited burst
    first in one batch too big for two windows, and each welcome call made twice."""
    batches = demo_tasks.mix(200, "run1")
    again = demo_tasks.mix(200, "run1")
    assert [[(c.task, c.args) for c in b] for b in batches] == [
        [(c.task, c.args) for c in b] for b in again
    ]
    counts = _task_counts(batches)
    assert sum(counts.values()) == 200
    assert set(counts) == {task.name for task in demo_tasks.tasks}
    burst = batches[0]
    assert {c.task for c in burst} == {demo_tasks.sync_partner}
    assert len(burst) >= demo_tasks.RATE_BURST_MIN > 2 * demo_tasks.RATE_LIMIT_PER_S
    keys = [(c.options or {}).get("_dedup_key") for b in batches for c in b]
    welcome = [key for key in keys if key is not None]
    assert len(welcome) == 2 * len(set(welcome)) == counts["demo.send_welcome"]
    assert all(key.startswith("welcome:run1:") for key in welcome)


def test_mix_refuses_too_few_jobs() -> None:
    """Below MIN_JOBS some kind of job would be missing: mix says so."""
    with pytest.raises(ValueError, match="at least 100"):
        demo_tasks.mix(demo_tasks.MIN_JOBS - 1, "run")


def test_charge_card_fails_its_first_attempt_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """charge_card counts attempts on the store at QUEUEKIT_URL: the first raises, the
    next ones succeed, and each order counts apart."""
    monkeypatch.setenv("QUEUEKIT_URL", "memory://test-demo-charge-card")
    monkeypatch.setattr(demo_tasks, "_client", None)
    with pytest.raises(demo_tasks.GatewayTimeoutError, match="order a-1"):
        demo_tasks.charge_card("a-1")
    assert demo_tasks.charge_card("a-1") == "order a-1 charged on attempt 2"
    with pytest.raises(demo_tasks.GatewayTimeoutError):
        demo_tasks.charge_card("a-2")
