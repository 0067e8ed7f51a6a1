"""The `queuekit` command line: one argparse parser, one function per subcommand.

Rules: `main(argv)` returns an `ExitCode` and never calls sys.exit itself
(the console script does), so tests run it in-process; nothing reads the
environment or configures logging at import time. Subcommands today: `demo`, `tour`,
`info`, `server` and `worker`. The enqueue command arrives with its issue.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from queuekit import __version__
from queuekit.errors import QueuekitError
from queuekit.exitcodes import ExitCode

# Each subcommand and the module whose add_parser() adds it, in --help order;
# None: defined here. A run imports only its own subcommand's module, so
# `queuekit worker` spawns its processes without loading the server's, the
# demo's and info's imports first (~0.1 s).
SUBCOMMANDS: dict[str, str | None] = {
    "demo": "queuekit.demo",
    "tour": None,
    "info": "queuekit.info",
    "server": "queuekit.server.cli",
    "worker": "queuekit.worker.cli",
    "check-aof": "queuekit.persistence.cli",
    "check-snapshot": "queuekit.persistence.snapshot_cli",
}

EPILOG = """\
examples:
  queuekit demo            1,000 jobs on an embedded store and 2 worker processes:
                           progress, then a summary (--jobs N, --keep-running)
  queuekit tour            a short tour of the embedded store: queue, dedup,
                           rate limit, lock, schedule, leaderboard, TTL, transaction
  queuekit info --watch   queues, workers, failed and lost jobs, refreshed in place
  queuekit server          serve the store over the Redis protocol on 127.0.0.1:6390
  queuekit server --help   the server's flags, with examples
  queuekit worker app.tasks --embedded
                           run the tasks of ./app/tasks.py, serving the store
                           on 127.0.0.1:6390 too: a whole deployment in one command
  queuekit worker --help   the worker's flags, with examples and exit codes
  queuekit --version       print the version
  python -m queuekit demo  the same, without the console script
"""


def _tour(args: argparse.Namespace) -> ExitCode:
    from queuekit.tour import run_tour

    run_tour(print)
    return ExitCode.OK


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser, with every subcommand or `only` that one."""
    parser = argparse.ArgumentParser(
        prog="queuekit",
        description="A job queue and worker framework on its own embedded, Redis-exact store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"queuekit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in SUBCOMMANDS.items():
        if only is not None and name != only:
            continue
        if module is not None:
            importlib.import_module(module).add_parser(commands)
            continue
        tour = commands.add_parser(
            "tour",
            help="tour the embedded store in a few readable steps",
            description="Run a short tour of the embedded store (memory://) and print each step.",
        )
        tour.set_defaults(handler=_tour)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `queuekit` with `argv` (default: the process's arguments); return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in SUBCOMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error
        return int(stop.code or 0)
    handler: Callable[[argparse.Namespace], ExitCode] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        return handler(args)
    except QueuekitError as error:
        print(f"queuekit {args.command}: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # `queuekit info | head`: the reader left; no traceback
        # Python's own advice: point stdout at devnull so the exit's flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.FAILURE
