"""The `queuekit` command line: the tour runs and exits 0, help shows examples."""

from __future__ import annotations

import subprocess
import sys

import pytest

from queuekit.cli import EPILOG, ExitCode, main

# One phrase from each step of the tour, in the order the steps run.
DEMO_STEPS = (
    "queue",
    "dedup",
    "rate limit",
    "lock",
    "schedule",
    "leaderboard",
    "ttl",
    "transaction",
)
SUBPROCESS_TIMEOUT_S = 60


def test_tour_runs_every_step_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """`queuekit tour` exits 0 and prints one labelled line per step, in order."""
    assert main(["tour"]) == ExitCode.OK
    out = capsys.readouterr().out
    labels = [line.split("  ")[0] for line in out.splitlines() if line[:1].isalpha()]
    assert [label for label in labels if label in DEMO_STEPS] == list(DEMO_STEPS)


def test_tour_shows_what_each_step_did(capsys: pytest.CaptureFixture[str]) -> None:
    """The tour's lines carry the replies: FIFO order, dedup, refusals, expiry, the abort."""
    main(["tour"])
    out = capsys.readouterr().out
    for expected in (
        "BRPOP emails 1 -> welcome:ada",
        "handed report:q3",
        "-> [1, 1, 0]",
        "ok ok ok refused refused",
        "-> OK",
        "(held)",
        "BYSCORE -> [cleanup, retry:order-7]",
        "worker-b 31, worker-a 12",
        "TTL 60 s",
        "GET visits -> nil",
        "aborted",
        "stock is now 1",
    ):
        assert expected in out


def test_python_m_queuekit_tour_exits_zero() -> None:
    """`python -m queuekit tour` runs the tour in a fresh interpreter and exits 0."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "queuekit", "tour"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert result.returncode == ExitCode.OK, result.stderr
    assert "leaderboard" in result.stdout
    assert result.stderr == ""


def test_help_shows_runnable_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """`queuekit --help` exits 0 and ends with the examples epilog."""
    assert main(["--help"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "queuekit demo" in out
    assert "queuekit tour" in out
    assert EPILOG.strip() in out


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a subcommand the CLI prints its help to stderr and exits with USAGE."""
    assert main([]) == ExitCode.USAGE
    assert "usage: queuekit" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown subcommand is refused by argparse with exit code 2."""
    assert main(["frobnicate"]) == ExitCode.USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """`queuekit --version` prints the package version."""
    import queuekit

    assert main(["--version"]) == ExitCode.OK
    assert queuekit.__version__ in capsys.readouterr().out


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    """`queuekit tour | head -1`: once the pipe's reader is gone the command exits 1
    quietly instead of printing a BrokenPipeError traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "queuekit", "tour"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader leaves before the first line
    with process.stderr:
        stderr = process.stderr.read().decode()
    assert process.wait(60) == ExitCode.FAILURE
    assert "Traceback" not in stderr


def test_a_worker_command_loads_neither_the_engine_nor_the_other_commands() -> None:
    """`queuekit worker` (without --embedded) spawns its processes sooner for not
    importing the engine, the server or the other subcommands first."""
    code = (
        "import sys; from queuekit.cli import build_parser; build_parser('worker'); "
        "print(' '.join(sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "queuekit.worker.supervisor" in loaded
    unexpected = ("queuekit.engine.engine", "queuekit.server", "queuekit.demo", "queuekit.info")
    assert not [name for name in loaded if name.startswith(unexpected)]
