"""`queuekit info`: the queues, the workers and the losses of a store, at a glance.

    snapshot = read_snapshot(client, url, queues=None, stall_after_s=60, now_ms=...)
    print(render(snapshot))                  # the aligned table
    json.dumps(as_json(snapshot))            # the --json shape below

Queue figures come from queuekit.metrics.store.read_figures (what Prometheus
scrapes), worker figures from queuekit.worker.health.read_workers (what
`worker --check` judges), so the three views never disagree. A worker is
"stalled" by --check's rule: alive, jobs ready on one of its queues, and no
job finished for --stall-after seconds.

--json prints one object (with --watch, one object per line, JSON Lines):

    {"store": {"url": "redis://127.0.0.1:6390/0", "up": true, "error": null,
               "read_at": 1700000000.5},                       # Unix seconds
     "in_progress": 3, "peak": 7,                              # over all queues
     "queues": [{"queue": "default", "length": 2, "oldest_age_s": 1.5,
                 "scheduled": 1, "in_progress": 3, "peak": 5, "failed": 1,
                 "dedup": 0, "lost": 1,
                 "totals": {"succeeded": 10, "failed": 1, "retried": 2, ...}}],
     "workers": [{"id": "host:1234:ab12cd", "host": "host", "pid": 1234,
                  "queues": ["default"], "reliable_queues": [],
                  "started_at": 1699999000.0, "jobs_done": 10, "in_flight": 1,
                  "last_progress": 1700000000.0, "idle_s": 0.5,
                  "state": "alive"}]}                           # alive, stalled, dead

`totals` holds every counter of the queue's stats hash; succeeded, failed and
retried are always there. `last_progress` is null until a job finished.

Rules:
1. Reads only, named by queuekit/jobs/keys.py (through the two readers).
2. The first read failing (cannot connect, NOAUTH, LOADING) exits
   STORE_UNAVAILABLE with one line naming the URL; with --watch, a later
   failure shows the store as down and the watch goes on, so a restart of
   the store does not end it.
3. The URL is shown as connect.describe_url has it: never a password.
4. Importing this module stays light (queuekit/cli.py imports it for its
   parser): prometheus_client comes with read_figures, imported when read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from queuekit.connect import connect, default_url, describe_url
from queuekit.engine.clock import Clock, SystemClock
from queuekit.errors import (
    BusyError,
    InvalidOptionError,
    NoAuthError,
    StoreConnectionError,
    UsageError,
)
from queuekit.exitcodes import ExitCode
from queuekit.jobs.keys import validate_queue
from queuekit.worker.health import DEFAULT_STALL_AFTER_S, WorkerInfo, read_workers

if TYPE_CHECKING:
    from queuekit.metrics.store import QueueFigures, StoreFigures

DEFAULT_WATCH_S = 2.0  # seconds between refreshes of a bare --watch
ALWAYS_TOTALS = ("succeeded", "failed", "retried")  # in every queue's totals, 0 if unset
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # cursor home, then erase the screen
# What a store that does not answer raises (rule 2); StoreConnectionError is an OSError.
UNREACHABLE = (StoreConnectionError, NoAuthError, BusyError, OSError)

EPILOG = """\
examples:
  queuekit info
      the local server's queues and workers (redis://127.0.0.1:6390/0), once
  queuekit info --watch
      refresh every 2 s in place until Ctrl-C
  queuekit info --url redis://redis.internal:6379/0 --queues mail,default --watch 5
      two queues of a Redis, every 5 s
  queuekit info --json | jq '.queues[] | {queue, length, lost}'
      the figures for scripts (the shape is in `pydoc queuekit.info`)
  QUEUEKIT_URL=redis://127.0.0.1:6390/0 queuekit info --stall-after 120
      the URL from the environment; workers idle 120 s while jobs wait are stalled

exit codes:
  0   OK                 the figures were read (with --watch: stopped by --count)
  2   USAGE              bad arguments
  3   STORE_UNAVAILABLE  the store could not be reached, or refused (NOAUTH)
  130 INTERRUPTED        stopped by Ctrl-C
"""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one refresh read: the store's figures, or why it could not read them."""

    url: str  # as Address.describe() has it (rule 3)
    read_at: float  # Unix seconds
    figures: StoreFigures | None  # None: the store did not answer
    workers: tuple[WorkerInfo, ...] = ()
    stall_after_s: float = DEFAULT_STALL_AFTER_S
    error: str | None = None

    @property
    def up(self) -> bool:
        return self.figures is not None


@dataclass(frozen=True, slots=True)
class Options:
    """The parsed, checked flags."""

    url: str
    queues: tuple[str, ...] | None  # None: every member of qk:queues
    stall_after_s: float
    json: bool
    watch_s: float | None  # None: one refresh
    count: int | None  # None: until Ctrl-C


# -- reading ----------------------------------------------------------------------


def read_snapshot(
    client: Any, url: str, queues: Sequence[str] | None, stall_after_s: float, now_ms: int
) -> Snapshot:
    """The queue and worker figures of the store `client` reaches; raises UNREACHABLE."""
    from queuekit.metrics.store import read_figures  # rule 4

    figures = read_figures(client, queues, now_ms)
    workers = read_workers(client, stall_after_s=stall_after_s, now=now_ms / 1000)
    return Snapshot(shown_url(url), now_ms / 1000, figures, tuple(workers), stall_after_s)


def shown_url(url: str) -> str:
    """`url` without its password or options (rule 3); memory:// URLs as given."""
    return describe_url(url)


def worker_state(worker: WorkerInfo) -> str:
    """alive, stalled (alive but not consuming) or dead (heartbeat expired, not yet reaped)."""
    if not worker.alive:
        return "dead"
    return "stalled" if worker.stalled else "alive"


# -- JSON -------------------------------------------------------------------------


def as_json(snapshot: Snapshot) -> dict[str, Any]:
    """The documented --json shape (module docstring)."""
    figures = snapshot.figures
    return {
        "store": {
            "url": snapshot.url,
            "up": snapshot.up,
            "error": snapshot.error,
            "read_at": snapshot.read_at,
        },
        "in_progress": figures.in_progress if figures else 0,
        "peak": figures.peak if figures else 0,
        "queues": [_queue_json(queue) for queue in figures.queues] if figures else [],
        "workers": [_worker_json(worker, snapshot.read_at) for worker in snapshot.workers],
    }


def _totals(queue: QueueFigures) -> dict[str, int]:
    return {**dict.fromkeys(ALWAYS_TOTALS, 0), **queue.counters}


# The --json fields read straight from the records, in the order of the shape.
_QUEUE_FIELDS = (
    *("queue", "length", "oldest_age_s", "scheduled", "in_progress", "peak"),
    *("failed", "dedup", "lost"),
)
_WORKER_FIELDS = (
    *("id", "host", "pid", "queues", "reliable_queues", "started_at"),
    *("jobs_done", "in_flight", "last_progress"),
)


def _queue_json(queue: QueueFigures) -> dict[str, Any]:
    return {**{name: getattr(queue, name) for name in _QUEUE_FIELDS}, "totals": _totals(queue)}


def _worker_json(worker: WorkerInfo, now: float) -> dict[str, Any]:
    shape = {name: getattr(worker, name) for name in _WORKER_FIELDS}
    shape["queues"], shape["reliable_queues"] = list(worker.queues), list(worker.reliable_queues)
    return shape | {"idle_s": round(worker.idle_s(now), 3), "state": worker_state(worker)}


# -- the table --------------------------------------------------------------------

# Column headers: the figures now, then the stats hash's totals.
QUEUE_HEADERS = (
    *("QUEUE", "READY", "OLDEST", "SCHEDULED", "RUNNING", "PEAK", "FAILED", "DEDUP", "LOST"),
    *("TOTAL OK", "TOTAL FAILED", "TOTAL RETRIED"),
)
WORKER_HEADERS = ("WORKER", "HOST", "PID", "QUEUES", "DONE", "IN FLIGHT", "LAST PROGRESS", "STATE")
_WORKER_ALIGN = "<<><>><<"  # per column: < left, > right


def span(seconds: float) -> str:
    """A duration as people read it: 3 s, 4 min, 2 h, 3 d."""
    for unit, size, limit in (("s", 1, 120), ("min", 60, 7200), ("h", 3600, 172_800)):
        if seconds < limit:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds / 86_400:.0f} d"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """`rows` under `headers` in columns two spaces apart; `align` gives each column's
    alignment, '<' or '>' (headers follow their column)."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [
            cell.rjust(width) if side == ">" else cell.ljust(width)
            for cell, width, side in zip(row, widths, align, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _queue_row(queue: QueueFigures) -> list[str]:
    totals = _totals(queue)
    oldest = span(queue.oldest_age_s) if queue.length else "-"
    figures = (queue.length, oldest, queue.scheduled, queue.in_progress, queue.peak)
    rest = (queue.failed, queue.dedup, queue.lost, *(totals[name] for name in ALWAYS_TOTALS))
    return [queue.queue, *(str(figure) for figure in (*figures, *rest))]


def _worker_row(worker: WorkerInfo, now: float) -> list[str]:
    last = "never" if worker.last_progress is None else f"{span(now - worker.last_progress)} ago"
    figures = (worker.pid, ",".join(worker.queues) or "-", worker.jobs_done, worker.in_flight)
    return [worker.id, worker.host or "?", *map(str, figures), last, worker_state(worker)]


def render(snapshot: Snapshot) -> str:
    """The readable block: a heading line, the queue table, the worker table."""
    at = time.strftime("%H:%M:%S", time.localtime(snapshot.read_at))
    figures = snapshot.figures
    if figures is None:
        return f"queuekit info  {snapshot.url}  {at}\nstore DOWN: {snapshot.error}"
    alive = sum(worker.alive for worker in snapshot.workers)
    lines = [
        f"queuekit info  {snapshot.url}  {at}  in progress {figures.in_progress} "
        f"(peak {figures.peak})  workers {alive} alive of {len(snapshot.workers)}",
        "",
    ]
    if figures.queues:
        rows = [_queue_row(queue) for queue in figures.queues]
        lines += table(QUEUE_HEADERS, rows, "<" + ">" * (len(QUEUE_HEADERS) - 1))
    else:
        lines.append("no queues yet: nothing was enqueued")
    lines.append("")
    if snapshot.workers:
        rows = [_worker_row(worker, snapshot.read_at) for worker in snapshot.workers]
        lines += table(WORKER_HEADERS, rows, _WORKER_ALIGN)
    else:
        lines.append("no workers registered")
    if any(worker.stalled for worker in snapshot.workers):
        lines.append(
            f"stalled: alive, jobs ready on its queues, and no job finished in the last "
            f"{snapshot.stall_after_s:g} s"
        )
    return "\n".join(lines)


# -- the command ------------------------------------------------------------------


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add `info` to the `queuekit` subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "info",
        help="show queues, workers and lost jobs: a table, --json, or --watch",
        description=(
            "Show each queue's ready, scheduled, in-progress, failed, deduplicated and\n"
            "lost jobs with its totals, and each registered worker: alive, stalled or dead."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--url",
        metavar="URL",
        help="store URL (default: the local server, redis://127.0.0.1:6390/0) [QUEUEKIT_URL]",
    )
    parser.add_argument(
        "--queues", metavar="QUEUES", help="comma-separated queues (default: every known queue)"
    )
    parser.add_argument(
        "--stall-after",
        type=float,
        default=DEFAULT_STALL_AFTER_S,
        metavar="SECONDS",
        help="a live worker that finished no job this long while jobs wait is stalled "
        f"(default {DEFAULT_STALL_AFTER_S:g}, as worker --check)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (--watch: JSON Lines)")
    parser.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=DEFAULT_WATCH_S,
        metavar="SECONDS",
        help=f"refresh every SECONDS (default {DEFAULT_WATCH_S:g}) until Ctrl-C",
    )
    parser.add_argument(
        "--count", type=int, metavar="N", help="with --watch: stop after N refreshes"
    )
    parser.set_defaults(handler=main)
    return parser


def options_from(args: argparse.Namespace) -> Options:
    """The flags, checked; UsageError or InvalidOptionError naming the bad one. A
    memory:// URL passes here (tests and in-process callers hand `run` its client)."""
    url = args.url or default_url()
    try:
        shown_url(url)
    except ValueError as error:
        raise UsageError(str(error)) from None
    queues = None
    if args.queues is not None:
        queues = tuple(validate_queue(name) for name in args.queues.split(",") if name)
        if not queues:
            raise UsageError(f"--queues {args.queues!r} names no queue")
    if not args.stall_after > 0:
        raise UsageError(f"--stall-after {args.stall_after:g} must be more than 0 seconds")
    if args.watch is not None and not args.watch > 0:
        raise UsageError(f"--watch {args.watch:g} must be more than 0 seconds")
    if args.count is not None and (args.watch is None or args.count < 1):
        raise UsageError(f"--count {args.count} needs --watch and must be at least 1")
    return Options(url, queues, args.stall_after, args.json, args.watch, args.count)


def main(args: argparse.Namespace, clock: Clock | None = None) -> ExitCode:
    """Run `queuekit info` with parsed `args`; return the exit code."""
    try:
        options = options_from(args)
        if options.url.startswith("memory:"):
            raise UsageError(
                f"store URL {options.url!r} is private to one process, so another process "
                "cannot read it: give the URL of a queuekit server or a Redis"
            )
    except (UsageError, InvalidOptionError) as error:
        print(f"queuekit info: {error}", file=sys.stderr)
        return ExitCode.USAGE
    client = connect(options.url)
    try:
        return run(client, options, clock or SystemClock(), sys.stdout)
    finally:
        client.close()


def run(client: Any, options: Options, clock: Clock, out: TextIO) -> ExitCode:
    """Refresh and print until done (rule 2 for a store that does not answer)."""
    refreshes = 0
    while True:
        snapshot = _refresh(client, options, clock)
        if refreshes == 0 and not snapshot.up:
            print(f"queuekit info: {snapshot.error}", file=sys.stderr)
            return ExitCode.STORE_UNAVAILABLE
        _emit(snapshot, options, out)
        refreshes += 1
        if options.watch_s is None or refreshes == options.count:
            return ExitCode.OK if snapshot.up else ExitCode.STORE_UNAVAILABLE
        time.sleep(options.watch_s)


def _refresh(client: Any, options: Options, clock: Clock) -> Snapshot:
    now_ms = clock.now_ms()
    try:
        return read_snapshot(client, options.url, options.queues, options.stall_after_s, now_ms)
    except UNREACHABLE as error:
        message = str(error)
        url = shown_url(options.url)
        if url not in message:  # NOAUTH and LOADING replies do not say where
            message = f"store {url}: {message}"
        return Snapshot(url, now_ms / 1000, None, error=message)


def _emit(snapshot: Snapshot, options: Options, out: TextIO) -> None:
    if options.json:
        shape = as_json(snapshot)
        text = json.dumps(shape) if options.watch_s is not None else json.dumps(shape, indent=2)
    elif options.watch_s is not None and out.isatty():
        text = CLEAR_SCREEN + render(snapshot)
    elif options.watch_s is not None:
        text = render(snapshot) + "\n"  # a blank line between the repeated blocks
    else:
        text = render(snapshot)
    print(text, file=out, flush=True)
