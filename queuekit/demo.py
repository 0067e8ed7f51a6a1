"""`queuekit demo`: the whole system at work on this machine, with nothing else running.

    code = run_demo(jobs=1000, keep_running=False)     # what `queuekit demo` does

It serves an embedded store (127.0.0.1:6390, or a free port if that one is
taken), runs a supervisor with 2 worker processes and a /metrics endpoint,
enqueues the mix of workers/demo.py (fast, slow, flaky, deduplicated,
rate-limited and delayed jobs), shows progress, waits until every job has
finished, prints a summary and stops everything.

Rules:
1. The supervisor runs in a thread of this process, not as a `queuekit
   worker` subprocess: the demo holds the Supervisor object, so it stops it
   with `request_stop` (no signal sent across processes, none lost), reads
   its exit code and its metrics URL (port 0: any free port) directly, and
   Ctrl-C stays simple: worker processes run in their own process groups, so
   a terminal's Ctrl-C reaches this process only; it becomes one stop
   request, which the supervisor forwards once. SIGTERM does the same.
2. Figures come from the store, never from the demo's own counting: progress
   and the summary read the queue's stats counters and peak (read_figures),
   queue waits and throughput the job hashes (enqueued_at, started_at,
   finished_at). Every job enqueued must end succeeded, failed or lost.
3. Every wait is bounded (WORKERS_READY_TIMEOUT_S, finish_timeout_s): a
   stuck demo says what it waited for and exits FAILURE, it never hangs.
   Whatever happens, the supervisor is stopped and waited for.
4. The terminal shows the demo only: the supervisor's and the worker
   processes' log lines go to a log file whose path the summary prints.
5. What is shown (progress, the summary) is rendered by demo_report.py,
   which does no I/O; here the figures are read and the processes run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import math
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import structlog

from queuekit.demo_report import (
    Progress,
    ProgressView,
    Summary,
    describe_mix,
    percentile,
    row,
    summary_lines,
)
from queuekit.errors import QueuekitError, StoreConnectionError, UsageError
from queuekit.exitcodes import ExitCode

if TYPE_CHECKING:
    from queuekit.jobs.prepare import Call
    from queuekit.metrics.store import QueueFigures
    from queuekit.worker.settings import WorkerSettings
    from queuekit.worker.supervisor import Supervisor

DEMO_MODULE = "workers.demo"  # the tasks and the mix, from the repository's root
DEFAULT_JOBS = 1000
MAX_JOBS = 100_000
PROCESSES = 2
CONCURRENCY = 10  # jobs in flight per worker process
HOST = "127.0.0.1"
PREFERRED_PORT = 6390  # the store's default port (server/config.py)
SHUTDOWN_TIMEOUT_S = 5.0  # the workers' drain at the end; every job is done by then
WORKERS_READY_TIMEOUT_S = 60.0  # spawning 2 interpreters on a loaded machine
FINISH_TIMEOUT_BASE_S = 120.0  # plus FINISH_TIMEOUT_PER_JOB_S a job: generous (rule 3)
FINISH_TIMEOUT_PER_JOB_S = 0.1
STOP_TIMEOUT_S = 60.0  # past the supervisor's own drain, kill and store-stop deadlines
POLL_S = 0.1  # how often progress is read from the store
READ_BATCH = 500  # job hashes read per round trip for the summary


# -- reading the figures (rule 2) -------------------------------------------------------


def read_progress(client: Any, queue: str, expected: int, elapsed_s: float) -> Progress:
    """The queue's progress, from its stats counters and lengths."""
    figures = _queue_figures(client, queue)
    count = figures.counters.get
    return Progress(
        elapsed_s=elapsed_s,
        expected=expected,
        succeeded=count("succeeded", 0),
        failed=count("failed", 0),
        lost=count("lost", 0),
        running=figures.in_progress,
        waiting=figures.length + figures.scheduled,
        retried=count("retried", 0),
        deferred=count("rate_limited", 0),
    )


def _queue_figures(client: Any, queue: str) -> QueueFigures:
    from queuekit.metrics.store import read_figures

    return read_figures(client, [queue], int(time.time() * 1000)).queues[0]


@dataclass(frozen=True, slots=True)
class _Enqueued:
    """A job the demo enqueued: its id, and how long it was delayed on purpose."""

    job_id: str
    delay_ms: int


def job_times(client: Any, queue: str, jobs: Sequence[_Enqueued]) -> tuple[list[float], float]:
    """Queue waits in ms of the jobs that ran once, and seconds from the first enqueue
    to the last finish, read from the job hashes (rule 2)."""
    from queuekit.jobs.keys import queue_keys
    from queuekit.jobs.txn import pipelined

    keys = queue_keys(queue)
    fields = (b"enqueued_at", b"started_at", b"finished_at", b"attempt")
    waits: list[float] = []
    first, last = math.inf, -math.inf
    for start in range(0, len(jobs), READ_BATCH):
        batch = jobs[start : start + READ_BATCH]
        replies = pipelined(client, [(b"HMGET", keys.job(job.job_id), *fields) for job in batch])
        for job, values in zip(batch, replies, strict=True):
            enqueued, started, finished, attempt = (_int(value) for value in values)
            if enqueued is not None:
                first = min(first, enqueued)
            if finished is not None:
                last = max(last, finished)
            if enqueued is not None and started is not None and attempt == 0:
                waits.append(max(0.0, started - enqueued - job.delay_ms))
    return waits, max(0.0, (last - first) / 1000) if last >= first else 0.0


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


# -- running it -------------------------------------------------------------------------


def free_port(host: str, preferred: int) -> int:
    """`preferred` if nothing listens there, else a port the OS says is free."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As a server binds: a port whose old connections linger in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise UsageError(f"no free TCP port on {host} for the demo's store")


@dataclass(frozen=True, slots=True)
class QuietChild:
    """A worker process's main that writes its output to the demo's log file (rule 4)."""

    log_path: str

    def __call__(self, settings: WorkerSettings) -> int:
        from queuekit.logs import configure_logging
        from queuekit.worker.process import run_child

        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        configure_logging("json")
        return int(run_child(settings))


class SupervisorThread:
    """The supervisor running in a thread (rule 1): its exit code or its error when done."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.code: ExitCode | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="queuekit-demo-supervisor")
        self._thread.daemon = True  # a supervisor stuck past STOP_TIMEOUT_S must not hold exit

    def _run(self) -> None:
        try:
            self.code = self.supervisor.run()
        except BaseException as error:  # reported by the demo's thread
            self.error = error

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def wait_serving(self, timeout_s: float) -> bool:
        """Wait until the store and /metrics are up (children are spawned next); False if
        the supervisor ended first, or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        while self.supervisor.metrics is None:
            if not self.alive() or time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
        return True

    def ended_why(self) -> str:
        """Why the supervisor stopped, for a message."""
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"
        code = self.code
        return f"exit code {int(code)} {code.name}" if code is not None else "still running"

    def stop(self) -> bool:
        """Ask it to drain and stop; whether it did within STOP_TIMEOUT_S past its deadlines."""
        self.supervisor.request_stop(signal.SIGTERM)
        policy = self.supervisor.policy
        limit = SHUTDOWN_TIMEOUT_S + policy.stop_grace_s + policy.kill_after_s + STOP_TIMEOUT_S
        try:
            self._thread.join(limit)
        except KeyboardInterrupt:  # Ctrl-C again: the second signal, stop jobs at once
            self.supervisor.request_stop(signal.SIGTERM)
            self._thread.join(limit)
        return not self._thread.is_alive()


@contextlib.contextmanager
def _logging_to(path: str) -> Iterator[None]:
    """This process's structlog lines (supervisor, embedded store) into `path` (rule 4)."""
    previous = structlog.get_config()
    with open(path, "a", encoding="utf-8") as file:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory=structlog.PrintLoggerFactory(file),
            cache_logger_on_first_use=False,
        )
        try:
            yield
        finally:
            structlog.configure(**previous)


@contextlib.contextmanager
def _restored_environment(name: str) -> Iterator[None]:
    """The variable `name` as it was once the block ends, whatever the block set."""
    previous = os.environ.get(name)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C does (rule 1)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _load_mix() -> tuple[str, Callable[[int, str], list[list[Call]]], int]:
    """The demo queue and mix of workers/demo.py, found from the current directory."""
    from queuekit.worker.loader import load_tasks

    try:
        load_tasks((DEMO_MODULE,))  # puts the current directory on sys.path, as a worker does
        module = importlib.import_module(DEMO_MODULE)
    except (UsageError, ImportError) as error:
        raise UsageError(
            f"the tasks of workers/demo.py cannot be loaded from "
            f"{os.getcwd()}: run the demo from the queuekit repository's root ({error})"
        ) from None
    return str(module.QUEUE), module.mix, int(module.MIN_JOBS)


def finish_timeout_s(jobs: int) -> float:
    """How long the demo waits for its jobs before it gives up (rule 3)."""
    return FINISH_TIMEOUT_BASE_S + FINISH_TIMEOUT_PER_JOB_S * jobs


class Demo:
    """One run: the store and workers up, the mix enqueued and waited for, the summary."""

    def __init__(self, jobs: int, out: TextIO, *, tty: bool) -> None:
        self.jobs = jobs
        self.out = out
        self.log_path = ""  # set once the run starts (rule 4)
        self.view = ProgressView(out, tty=tty)
        self.queue, self.mix, min_jobs = _load_mix()
        if not min_jobs <= jobs <= MAX_JOBS:
            raise UsageError(f"--jobs {jobs} must be between {min_jobs} and {MAX_JOBS:,}")
        self.started = time.monotonic()
        self.enqueued: list[_Enqueued] = []
        self.offered = 0

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def wait_for_workers(self, client: Any, running: SupervisorThread) -> str:
        """Block until PROCESSES workers serve the queue; the metrics URL."""
        deadline = time.monotonic() + WORKERS_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not running.alive():
                raise QueuekitError(
                    f"the supervisor stopped before its workers were ready "
                    f"({running.ended_why()}); see {self.log_path}"
                )
            metrics = running.supervisor.metrics
            if metrics is not None and self._workers_alive(client) >= PROCESSES:
                return metrics.url
            time.sleep(POLL_S)
        raise QueuekitError(
            f"{PROCESSES} worker processes did not register within "
            f"{WORKERS_READY_TIMEOUT_S:g} s (the limit); see {self.log_path}"
        )

    def _workers_alive(self, client: Any) -> int:
        from queuekit.metrics.store import read_figures

        try:
            figures = read_figures(client, [self.queue], int(time.time() * 1000))
        except StoreConnectionError:
            return 0  # the embedded store is still starting
        return sum(1 for w in figures.workers if w.alive and self.queue in w.queues)

    def enqueue(self, client: Any, batches: list[list[Call]]) -> None:
        """Enqueue the mix batch by batch, showing progress between batches."""
        from queuekit.jobs.producer import JobClient

        jobs = JobClient(client)
        self.started = time.monotonic()
        for batch in batches:
            for planned, job in zip(batch, jobs.enqueue_many(batch), strict=True):
                if job is not None:
                    delay_s = float((planned.options or {}).get("_delay", 0.0))
                    self.enqueued.append(_Enqueued(job.id, round(delay_s * 1000)))
            self.offered += len(batch)
            self.view.show(read_progress(client, self.queue, len(self.enqueued), self.elapsed_s()))

    def wait_for_jobs(self, client: Any, running: SupervisorThread) -> Progress:
        """Block until every enqueued job finished, showing progress; the last figures."""
        expected = len(self.enqueued)
        deadline = time.monotonic() + finish_timeout_s(self.jobs)
        while True:
            progress = read_progress(client, self.queue, expected, self.elapsed_s())
            if progress.finished >= expected:
                self.view.show(progress, final=True)
                return progress
            self.view.show(progress)
            if not running.alive():
                raise QueuekitError(
                    f"the supervisor stopped with {expected - progress.finished:,} jobs "
                    f"unfinished ({running.ended_why()}); see {self.log_path}"
                )
            if time.monotonic() >= deadline:
                raise QueuekitError(
                    f"{expected - progress.finished:,} of {expected:,} jobs did not finish "
                    f"within {finish_timeout_s(self.jobs):g} s (the limit); see {self.log_path}"
                )
            time.sleep(POLL_S)

    def summary(self, client: Any, progress: Progress) -> Summary:
        figures = _queue_figures(client, self.queue)
        waits, run_s = job_times(client, self.queue, self.enqueued)
        return Summary(
            offered=self.offered,
            enqueued=len(self.enqueued),
            succeeded=progress.succeeded,
            failed=progress.failed,
            lost=progress.lost,
            retried=progress.retried,
            dedup_hits=figures.counters.get("deduplicated", 0),
            deferrals=progress.deferred,
            peak=figures.peak,
            slots=PROCESSES * CONCURRENCY,
            run_s=run_s,
            wait_p50_ms=percentile(waits, 50),
            wait_p99_ms=percentile(waits, 99),
            waits=len(waits),
        )


def run_demo(
    jobs: int = DEFAULT_JOBS,
    *,
    keep_running: bool = False,
    out: TextIO | None = None,
) -> ExitCode:
    """`queuekit demo` (module docstring); the exit code says how it went."""
    from queuekit.connect import connect

    out = out or sys.stdout
    demo = Demo(jobs, out, tty=out.isatty())
    demo.log_path = log_path = _log_file()
    with _logging_to(log_path), _restored_environment("QUEUEKIT_URL"), _sigterm_interrupts():
        running = _start(demo, log_path)
        try:
            with contextlib.closing(connect(running.supervisor.settings.url)) as client:
                code = _run(demo, client, running, log_path, keep_running)
        except KeyboardInterrupt:
            demo.view.end()
            demo.say("interrupted: stopping the workers and the store")
            code = ExitCode.INTERRUPTED
        finally:
            demo.view.end()
            stopped = running.stop()
        if not stopped:
            raise QueuekitError(
                f"the supervisor did not stop within {STOP_TIMEOUT_S:g} s past its deadlines; "
                f"see {log_path}"
            )
    return code


def _start(demo: Demo, log_path: str) -> SupervisorThread:
    """The supervisor started, its embedded store listening on 6390 if that is free, else
    on a free port; a port taken between the probe and the bind is tried again once."""
    from queuekit.worker.settings import WorkerSettings
    from queuekit.worker.supervisor import Supervisor

    for preferred in (PREFERRED_PORT, 0):
        port = free_port(HOST, preferred)
        url = f"redis://{HOST}:{port}/0"
        os.environ["QUEUEKIT_URL"] = url  # where workers/demo.py's tasks connect (inherited)
        settings = WorkerSettings(
            modules=(DEMO_MODULE,),
            url=url,
            queues=(demo.queue,),
            processes=PROCESSES,
            concurrency=CONCURRENCY,
            embedded=True,
            metrics_port=0,  # any free port; the supervisor says which
            shutdown_timeout_s=SHUTDOWN_TIMEOUT_S,
        )
        running = SupervisorThread(Supervisor(settings, target=QuietChild(log_path)))
        running.start()
        if running.wait_serving(WORKERS_READY_TIMEOUT_S):
            taken = "" if port == PREFERRED_PORT else f" ({PREFERRED_PORT} is taken: a free port)"
            demo.say("queuekit demo")
            demo.say(row("store", f"{url}, embedded in the supervisor{taken}"))
            workers = f"{PROCESSES} processes x {CONCURRENCY} jobs in flight"
            demo.say(row("workers", f"{workers}, serving queue {demo.queue!r}"))
            return running
        if running.alive():  # not serving in time: give up
            running.stop()
            break
        if not isinstance(running.error, UsageError):  # not a port taken under us
            break
    raise QueuekitError(
        f"the supervisor did not start serving within {WORKERS_READY_TIMEOUT_S:g} s "
        f"({running.ended_why()}); see {log_path}"
    )


def _run(
    demo: Demo, client: Any, running: SupervisorThread, log_path: str, keep_running: bool
) -> ExitCode:
    metrics_url = demo.wait_for_workers(client, running)
    demo.say(row("metrics", metrics_url))
    batches = demo.mix(demo.jobs, os.urandom(4).hex())  # a run id: see workers/demo.py
    demo.say(f"enqueueing {demo.jobs:,} jobs on queue {demo.queue!r}, from {DEMO_MODULE}:")
    for line in describe_mix(batches):
        demo.say(line)
    demo.enqueue(client, batches)
    progress = demo.wait_for_jobs(client, running)
    demo.view.end()
    summary = demo.summary(client, progress)
    for line in summary_lines(summary, metrics_url, log_path):
        demo.say(line)
    if summary.failed or summary.lost:
        raise QueuekitError(
            f"{summary.failed} jobs failed and {summary.lost} were lost, where none should; "
            f"see {log_path}"
        )
    if keep_running:
        demo.say(f"still running: the store at {running.supervisor.settings.url}")
        demo.say(f"and the metrics at {metrics_url}; Ctrl-C stops them")
        with contextlib.suppress(KeyboardInterrupt):
            while running.alive():
                time.sleep(POLL_S * 5)
    return ExitCode.OK


def _log_file() -> str:
    """A new file for the run's log lines (rule 4), kept afterwards for reading."""
    fd, path = tempfile.mkstemp(prefix="queuekit-demo-", suffix=".log")
    os.close(fd)
    return path


# -- the command line -------------------------------------------------------------------


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add `demo` to the `queuekit` subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="run a realistic mix of jobs on an embedded store and 2 worker processes",
        description=(
            "Serve an embedded store, start a supervisor with 2 worker processes and a\n"
            "/metrics endpoint, enqueue the mix of workers/demo.py (fast, slow, flaky,\n"
            "duplicate, rate-limited and delayed jobs), show progress, and print a summary.\n"
            "Run it from the repository's root; nothing else needs to run."
        ),
        epilog=(
            "examples:\n"
            "  queuekit demo                  1,000 jobs, then stop\n"
            "  queuekit demo --jobs 200       a shorter run\n"
            "  queuekit demo --keep-running   stay up afterwards: point Prometheus or\n"
            "                                 `queuekit info` at it; Ctrl-C stops it\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=DEFAULT_JOBS,
        metavar="N",
        help=f"enqueue calls to make, 100 to {MAX_JOBS:,} (default {DEFAULT_JOBS:,})",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the store, the workers and /metrics up after the summary, until Ctrl-C",
    )
    parser.set_defaults(handler=main)
    return parser


def main(args: argparse.Namespace) -> ExitCode:
    try:
        return run_demo(args.jobs, keep_running=args.keep_running)
    except UsageError as error:
        print(f"queuekit demo: {error}", file=sys.stderr)
        return ExitCode.USAGE
