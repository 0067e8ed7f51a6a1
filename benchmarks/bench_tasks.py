"""The tasks the worker benchmark runs: `queuekit worker benchmarks.bench_tasks`.

bench.noop does nothing. bench.wait records how long its job waited, from just
before the producer's enqueue call to the task's start, in the list
`bench:waits` (seconds as text): a wall-clock difference between two processes
on one machine, finer than the job hash's millisecond times.
"""

from __future__ import annotations

import os
import time
from typing import Any

from queuekit.connect import connect_async
from queuekit.jobs import TaskSet

tasks = TaskSet()
WAITS = "bench:waits"
_store: dict[str, Any] = {}


@tasks.task(name="bench.noop")
async def noop(n: int) -> None:
    return None


@tasks.task(name="bench.wait")
async def wait(sent_at: float) -> None:
    waited = time.time() - sent_at
    if "client" not in _store:
        _store["client"] = connect_async(os.environ["QUEUEKIT_URL"])
    await _store["client"].execute("RPUSH", WAITS, repr(waited))
