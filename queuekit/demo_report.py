"""What `queuekit demo` shows: its progress and its summary, from figures, without I/O.

    view = ProgressView(sys.stdout, tty=sys.stdout.isatty())
    view.show(Progress(...))                     # a bar on a terminal, a line a second otherwise
    view.end()
    print("\n".join(summary_lines(Summary(...), metrics_url, log_path)))

Rules: the figures come from the store (demo.py reads them); here they are
only rendered, so every case is tested in-process without a store. On a
terminal the bar is redrawn in place (\r, then clear to the end of the
line); elsewhere whole lines, at most one every PLAIN_INTERVAL_S, so a log
or CI output stays readable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from queuekit.jobs.prepare import Call

PLAIN_INTERVAL_S = 1.0  # one progress line this often when not on a terminal
BAR_WIDTH = 30  # characters of the progress bar
LABEL_WIDTH = 22  # the summary's name column


@dataclass(frozen=True, slots=True)
class Progress:
    """The queue's figures at one moment of the run, as the store counts them."""

    elapsed_s: float
    expected: int  # jobs enqueued so far: every one of them must finish
    succeeded: int
    failed: int
    lost: int
    running: int
    waiting: int  # ready or scheduled (delayed, retrying, deferred)
    retried: int
    deferred: int  # starts put off by the rate limit

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.lost


def render_progress(progress: Progress, *, tty: bool, width: int = BAR_WIDTH) -> str:
    """One progress report: a bar redrawn in place on a terminal, else a whole line."""
    done, total = progress.finished, progress.expected
    share = min(1.0, done / total) if total else 0.0
    if tty:
        filled = int(share * width)
        bar = "#" * filled + "." * (width - filled)
        return (
            f"\r[{bar}] {done:,}/{total:,} jobs {share:4.0%}  running {progress.running}  "
            f"waiting {progress.waiting}  retried {progress.retried}  "
            f"deferred {progress.deferred}  failed {progress.failed}  "
            f"{progress.elapsed_s:.1f} s\x1b[K"
        )
    return (
        f"[{progress.elapsed_s:6.1f} s] {done:,} of {total:,} jobs finished "
        f"({progress.succeeded:,} succeeded, {progress.failed:,} failed); "
        f"{progress.running} running, {progress.waiting} waiting, {progress.retried} retried, "
        f"{progress.deferred} rate-limit deferrals\n"
    )


class ProgressView:
    """Writes progress to `stream`: every report on a terminal, one a second otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool, interval_s: float = PLAIN_INTERVAL_S):
        self.stream = stream
        self.tty = tty
        self.interval_s = interval_s
        self._last_line_s = -math.inf
        self._bar_shown = False

    def show(self, progress: Progress, *, final: bool = False) -> None:
        """Report `progress`; off a terminal only if a line is due, or it is the `final` one."""
        if not self.tty:
            if not final and progress.elapsed_s - self._last_line_s < self.interval_s:
                return
            self._last_line_s = progress.elapsed_s
        self.stream.write(render_progress(progress, tty=self.tty))
        self.stream.flush()
        self._bar_shown = self.tty

    def end(self) -> None:
        """Leave the bar's line, so what follows starts on a line of its own."""
        if self._bar_shown:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_shown = False


# -- the summary ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """What the run did, as the store recorded it."""

    offered: int  # enqueue calls made
    enqueued: int  # of which accepted (the others were duplicates)
    succeeded: int
    failed: int
    lost: int
    retried: int
    dedup_hits: int
    deferrals: int
    peak: int
    slots: int  # processes x concurrency
    run_s: float  # first enqueue to last finish
    wait_p50_ms: float
    wait_p99_ms: float
    waits: int  # jobs the percentiles are over

    @property
    def throughput(self) -> float:
        """Jobs finished per second over the run."""
        return (self.succeeded + self.failed) / self.run_s if self.run_s > 0 else 0.0


def summary_lines(summary: Summary, metrics_url: str, log_path: str) -> list[str]:
    """The summary as printed: one figure a line, name then value."""
    rows = [
        ("jobs", f"{summary.offered:,} offered, {summary.enqueued:,} enqueued"),
        ("succeeded", f"{summary.succeeded:,}"),
        ("failed", f"{summary.failed:,}"),
        ("lost", f"{summary.lost:,}"),
        ("retried", f"{summary.retried:,}  (flaky jobs that failed, then succeeded)"),
        ("dedup hits", f"{summary.dedup_hits:,}  (enqueues refused as duplicates)"),
        ("rate-limit deferrals", f"{summary.deferrals:,}  (starts put off to the next window)"),
        ("peak concurrency", f"{summary.peak}  (of {summary.slots} slots)"),
        ("throughput", f"{summary.throughput:,.1f} jobs/s over {summary.run_s:.2f} s"),
        (
            "queue wait",
            f"p50 {summary.wait_p50_ms:,.0f} ms, p99 {summary.wait_p99_ms:,.0f} ms  "
            f"(enqueue or due time to start, {summary.waits:,} jobs not retried)",
        ),
        ("metrics served at", metrics_url),
        ("logs", log_path),
    ]
    return ["summary", *(row(name, value) for name, value in rows)]


def row(name: str, value: str) -> str:
    """One line of a table: the name in a column, then the value."""
    return f"  {name:<{LABEL_WIDTH}}{value}"


def describe_mix(batches: Sequence[Sequence[Call]]) -> list[str]:
    """One line per task of the mix: how many calls, its name, its docstring's first line."""
    counts: dict[str, int] = {}
    docs: dict[str, str] = {}
    for batch in batches:
        for planned in batch:
            task = planned.task
            name = task if isinstance(task, str) else task.name
            counts[name] = counts.get(name, 0) + 1
            doc = "" if isinstance(task, str) else (task.func.__doc__ or "")
            docs[name] = doc.strip().split("\n")[0]
    return [f"  {count:>6,}  {name:<22}{docs[name]}" for name, count in counts.items()]


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank `p`th percentile of `values` (0 when there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
