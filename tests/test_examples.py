"""Every script in examples/ runs as a user runs it, and shows what it claims to.

Each script runs in a fresh interpreter from the repository root, once on its
default store (memory://), once with --url against a queuekit server and once
against a private redis-server, and must exit 0 and print its key lines.
The key lines are the facts each example teaches (a hit, a rejection, an
exact peak...), so a script that stops showing them fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.queuekit_server import RunningServer, running_server
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPT_TIMEOUT_S = 60

# Each example and lines its output must contain.
EXPECTED: dict[str, list[str]] = {
    "cache.py": [
        "GET example:cache:user:123:profile -> miss: loaded from the database, SET ... PX 300",
        "GET example:cache:user:123:profile -> hit: 'profile of user 123'",
        "after its TTL the entry is gone: EXISTS example:cache:user:123:profile -> 0",
        "3 lookups, 2 database queries",
    ],
    "rate_limit.py": [
        "request 5: INCR example:ratelimit:user:123 -> 5, allowed",
        "request 6: INCR example:ratelimit:user:123 -> 6, rejected",
        "request 8: INCR example:ratelimit:user:123 -> 1, allowed",
    ],
    "lock.py": [
        "server-A: SET example:lock:job_xyz NX PX 30000 -> acquired",
        "server-B: SET example:lock:job_xyz NX PX 30000 -> held",
        "server-B tries to release A's lock -> False",
        "server-A releases with its token -> True",
        "after the TTL, server-B -> acquired",
        "server-C, back, releases -> False (not its lock any more)",
        "server-B releases -> True",
    ],
    "peak_concurrency.py": [
        "8 users connected at once, then left: online now 0, peak 8",
        "3 users connected at once, then left: online now 0, peak 8",
    ],
    "job_queue.py": [
        "enqueued 3 jobs on queue 'examples': ['queued', 'queued', 'queued']",
        "burst worker: 3 succeeded, 0 failed",
        "  succeeded: welcome email sent to user_42",
        "the delayed job is still scheduled; cancel it -> True",
        "its status now: cancelled",
    ],
    "dedup_notifications.py": [
        "SADD example:sent_notifications order-7:shipped -> skipped, already sent",
        "4 workers got order-9:shipped at once: sent 1x",
        "8 deliveries, 4 notifications sent: "
        "['order-7:delivered', 'order-7:shipped', 'order-8:shipped', 'order-9:shipped']",
    ],
    "leaderboard.py": [
        "  1. player_42    9500",
        "ZINCRBY example:leaderboard 1000 player_7 -> 9700",
        "  1. player_7     9700",
        "ZREVRANK example:leaderboard player_7 -> 0 (place 1)",
        "ZREVRANK example:leaderboard player_1 -> None (not on the board)",
    ],
}
SCRIPTS = sorted(EXPECTED)


def run_example(script: str, *args: str) -> str:
    """Run examples/<script> as `python examples/<script> ...`; its stdout, once it exits 0."""
    result = subprocess.run(
        [sys.executable, "-W", "error", f"examples/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def assert_shows(script: str, stdout: str) -> None:
    lines = stdout.splitlines()
    missing = [line for line in EXPECTED[script] if line not in lines]
    assert not missing, f"{script} did not print {missing}; it printed:\n{stdout}"


@pytest.fixture(scope="module")
def examples_server() -> Iterator[RunningServer]:
    """One queuekit server for every example (each uses and clears only its own keys)."""
    with running_server() as server:
        yield server


def test_every_example_is_tested_and_listed() -> None:
    """Each script in examples/ has expected output here and a line in examples/README.md."""
    on_disk = sorted(path.name for path in EXAMPLES.glob("*.py"))
    assert on_disk == SCRIPTS
    listed = set(re.findall(r"\[(\w+\.py)\]", (EXAMPLES / "README.md").read_text()))
    assert listed == set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_has_a_docstring_and_a_url_flag(script: str) -> None:
    """Each script opens with a docstring and documents its --url flag in --help."""
    assert (EXAMPLES / script).read_text().startswith('"""')
    assert "--url URL" in run_example(script, "--help")


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_on_memory(script: str) -> None:
    """Run with no arguments, a script uses the embedded store and shows its key lines."""
    assert_shows(script, run_example(script))


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_on_a_queuekit_server(examples_server: RunningServer, script: str) -> None:
    """With --url, a script runs the same against a queuekit server."""
    assert_shows(script, run_example(script, "--url", f"{examples_server.url}/0"))


@pytest.mark.redis
@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_on_redis(redis_server: RedisServer, script: str) -> None:
    """With --url, a script runs the same against a real redis-server."""
    url = f"redis://{redis_server.host}:{redis_server.port}/0"
    assert_shows(script, run_example(script, "--url", url))
