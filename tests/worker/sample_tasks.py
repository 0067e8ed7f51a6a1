"""Tasks for the worker tests that run real worker processes (importable by spawned children).

Each task reaches the store under test through QUEUEKIT_URL, which `serve`
sets from the settings before the worker starts.
"""

from __future__ import annotations

import asyncio
import os
import time

from queuekit.connect import connect, connect_async
from queuekit.exitcodes import ExitCode
from queuekit.jobs import TaskSet
from queuekit.worker.process import run_process
from queuekit.worker.settings import WorkerSettings

tasks = TaskSet()

BARRIER = "test:barrier"
RUNS = "test:runs"
WAIT_S = 120.0  # a bound on every wait, far above what a loaded machine needs


@tasks.task(name="sample.hang_once")
def hang_once() -> str:
    """Counts its runs; the first one hangs (its worker gets killed), later ones return."""
    store = connect(os.environ["QUEUEKIT_URL"])
    try:
        if store.incr(RUNS) == 1:
            time.sleep(WAIT_S)
        return "done"
    finally:
        store.close()


@tasks.task(name="sample.meet")
async def meet(party: int) -> None:
    """Waits until `party` jobs have arrived (0: does not wait): they overlap for sure."""
    if not party:
        return
    async with connect_async(os.environ["QUEUEKIT_URL"]) as store:
        arrived = await store.execute("INCR", BARRIER)
        deadline = time.monotonic() + WAIT_S
        while arrived < party and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            arrived = int(await store.execute("GET", BARRIER))


def serve(settings: WorkerSettings) -> None:
    """A worker process's main for multiprocessing: exits with run_process's code."""
    assert settings.url is not None
    os.environ["QUEUEKIT_URL"] = settings.url
    code: ExitCode = run_process(settings, tasks)
    raise SystemExit(int(code))
