"""Task.enqueue keeps the function's signature: mypy rejects a wrong call at the call site."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

DECLARE = """
from queuekit.jobs import TaskSet
tasks = TaskSet()

@tasks.task(queue="mail")
def send(to: str, retries: int = 0) -> None: ...

@tasks.task
async def fetch(url: str) -> bytes: return b""
"""

GOOD = (
    DECLARE
    + """
send.enqueue("a@example.com")
send.enqueue("a@example.com", retries=2)
send.using(delay=5, priority="high").enqueue(to="b@example.com")
async def main() -> None:
    await fetch.enqueue_async("https://example.com")
"""
)

BAD = (
    DECLARE
    + """
send.enqueue(42)
send.enqueue("a@example.com", tries=2)
send.using(delay=5).enqueue()
"""
)


def run_mypy(tmp_path: Path, source: str) -> tuple[str, int]:
    path = tmp_path / "snippet.py"
    path.write_text(source)
    stdout, stderr, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)]
    )
    return stdout + stderr, status


@pytest.mark.slow
def test_mypy_accepts_calls_that_match_the_signature(tmp_path: Path) -> None:
    """Correct enqueue calls type-check."""
    output, status = run_mypy(tmp_path, GOOD)
    assert status == 0, output


@pytest.mark.slow
def test_mypy_rejects_calls_that_do_not_match(tmp_path: Path) -> None:
    """A wrong argument type, an unknown keyword and a missing argument are each an error."""
    output, status = run_mypy(tmp_path, BAD)
    assert status == 1
    assert 'Argument 1 to "enqueue" of "Task" has incompatible type "int"; expected "str"' in output
    assert 'Unexpected keyword argument "tries" for "enqueue" of "Task"' in output
    assert 'Missing positional argument "to" in call to "enqueue" of "TaskCall"' in output
