"""The README's five-minute tour: one task, run by `queuekit worker workers.hello`."""

from __future__ import annotations

from queuekit import TaskSet

tasks = TaskSet()  # enqueues go to QUEUEKIT_URL, else the local server (127.0.0.1:6390)


@tasks.task(result_ttl=60)
async def greet(name: str) -> str:
    return f"hello, {name}"
