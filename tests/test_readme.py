"""The README shows what a user runs, and every code block in it works.

Python blocks of README.md and docs/*.md each run in a fresh interpreter, so
one block's memory:// data cannot leak into another's. The two set-up commands
are checked word for word, and CI must run the very same test command.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_SCRIPT = ROOT / ".ci" / "run"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]

INSTALL_AND_DEMO = "pip install -e . && queuekit demo"
INSTALL_AND_TEST = "pip install -e '.[test]' && python -m pytest"
BLOCK_TIMEOUT_S = 60
COMMAND_TIMEOUT_S = 180  # a command block starts servers and workers

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced blocks tagged `language`, in document order."""
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for path in DOCUMENTS:
        for index, body in enumerate(fenced_blocks(path.read_text(), "python"), 1):
            blocks.append((f"{path.relative_to(ROOT)}#{index}", body))
    return blocks


def test_readme_opens_with_the_two_setup_commands() -> None:
    """The first two bash blocks are the demo command, then the test command."""
    bash = fenced_blocks(README.read_text(), "bash")
    assert [block.strip() for block in bash[:2]] == [INSTALL_AND_DEMO, INSTALL_AND_TEST]


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run is an executable strict bash script that runs the README's test command."""
    script = CI_SCRIPT.read_text()
    assert script.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script
    commands = [line.strip() for line in script.splitlines()]
    assert any(line.startswith(INSTALL_AND_TEST) for line in commands)
    assert os.access(CI_SCRIPT, os.X_OK)


def test_readme_has_python_blocks() -> None:
    """The README shows the in-process store in at least one runnable Python block."""
    assert fenced_blocks(README.read_text(), "python")


def command_blocks() -> list[tuple[str, str]]:
    """The README's bash blocks after the two set-up commands (tested on their own)."""
    blocks = fenced_blocks(README.read_text(), "bash")[2:]
    return [(f"README.md#bash{index}", body) for index, body in enumerate(blocks, 3)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_readme_has_command_blocks() -> None:
    """The README shows the worker tour and the server as commands."""
    assert len(command_blocks()) >= 2


@pytest.mark.parametrize(("where", "code"), command_blocks(), ids=[w for w, _ in command_blocks()])
def test_command_block_runs(where: str, code: str) -> None:
    """Each command block runs as written under bash -euo pipefail, on free ports in
    place of the defaults (6390 for the store, 9400 for metrics), and leaves nothing
    running: the test waits for what the block started in the background."""
    store, metrics = free_port(), free_port()
    script = code.replace("6390", str(store)).replace("9400", str(metrics)) + "wait\n"
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "QUEUEKIT_URL": f"redis://127.0.0.1:{store}/0",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stdout}\n{result.stderr}"
    if "workers.hello" in code:
        assert "hello, world" in result.stdout
        assert "queuekit_jobs_completed_total" in result.stdout


@pytest.mark.parametrize(("where", "code"), python_blocks(), ids=[w for w, _ in python_blocks()])
def test_python_block_runs(where: str, code: str) -> None:
    """Each Python block runs to completion in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr}"
