"""A worker process's main: the signals, the watch on its supervisor, the exit code.

    code = run_process(settings, tasks)     # in a process the supervisor spawned

`child_main` is what the supervisor spawns; it lives here, away from the
supervisor's imports (the embedded server, the metrics endpoint), so a new
worker process imports only what it runs.

The first SIGTERM or SIGINT asks the runtime to drain, the second to stop at
once (runtime.Shutdown). A process whose parent (the supervisor) dies stops the
same way, within PARENT_POLL_S, so an orphan never goes on taking jobs. The
exit code says why the process ended (exitcodes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable

import structlog

from queuekit.connect import connect_async
from queuekit.errors import StoreConnectionError
from queuekit.exitcodes import ExitCode
from queuekit.jobs.tasks import TaskSet
from queuekit.logs import configure_logging
from queuekit.metrics.supervisor import worker_metrics
from queuekit.worker.loader import load_tasks
from queuekit.worker.runtime import Report, Shutdown, WorkerProcess
from queuekit.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)

PARENT_POLL_S = 0.5  # how soon a worker notices that its supervisor died

# What a worker process runs: returns its exit code (None is OK).
ChildTarget = Callable[[WorkerSettings], "int | None"]


def child_main(target: ChildTarget, settings: WorkerSettings, log_format: str | None) -> None:
    """A worker process's first code: leave the terminal's process group, run `target`,
    exit with its code."""
    os.setpgrp()  # Ctrl-C reaches the supervisor only; it forwards the signal once
    if log_format is not None:
        configure_logging(log_format)
    code = target(settings)
    sys.exit(0 if code is None else int(code))


def run_child(settings: WorkerSettings) -> ExitCode:
    """The worker process's main (the supervisor's default target): load the tasks, run."""
    return run_process(settings, load_tasks(settings.modules))


async def _watch_parent(shutdown: Shutdown, parent: int) -> None:
    """Stop as if told to when the parent (the supervisor) dies: an orphan must not
    go on taking jobs that nobody supervises. Polled: no event says a parent died."""
    while True:
        if os.getppid() != parent:
            log.warning("supervisor_gone", parent=parent)
            shutdown.request()
            return
        await asyncio.sleep(PARENT_POLL_S)


async def _main(settings: WorkerSettings, tasks: TaskSet) -> Report | ExitCode:
    shutdown = Shutdown()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, shutdown.request)
    watcher = asyncio.create_task(_watch_parent(shutdown, os.getppid()))
    metrics = worker_metrics()  # shared with the supervisor's endpoint, when it serves one
    client = connect_async(settings.url)
    try:
        worker = WorkerProcess(settings, tasks, client, shutdown=shutdown, metrics=metrics)
        return await worker.run()
    except StoreConnectionError as error:
        log.error("store_unavailable", error=str(error))
        return ExitCode.STORE_UNAVAILABLE
    finally:
        watcher.cancel()
        with contextlib.suppress(Exception):
            await client.aclose()


def run_process(settings: WorkerSettings, tasks: TaskSet) -> ExitCode:
    """A worker process's main: run until stopped; the exit code says why.

    If a sync job was abandoned in its thread, the process cannot wait for
    it: it exits at once with os._exit, after flushing its output.
    """
    outcome = asyncio.run(_main(settings, tasks))
    if isinstance(outcome, ExitCode):
        return outcome
    if outcome.abandoned:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(outcome.exit_code)
    return outcome.exit_code
