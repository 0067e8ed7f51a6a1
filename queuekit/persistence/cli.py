"""`queuekit check-aof [--fix] FILE`: check an append-only file, truncate it if asked.

Exit codes: OK when the file is valid (or was fixed), FAILURE when it is
truncated or corrupt and --fix was not given. Nothing is written without --fix.
"""

from __future__ import annotations

import argparse
from typing import Any

from queuekit.exitcodes import ExitCode

EPILOG = """\
examples:
  queuekit check-aof data/appendonly.aof         report: valid, truncated or corrupt at an offset
  queuekit check-aof --fix data/appendonly.aof   truncate to the last valid command
"""


def _check_aof(args: argparse.Namespace) -> ExitCode:
    from queuekit.persistence.loader import check_aof

    report = check_aof(args.file, fix=args.fix)
    print(report.describe())
    if report.status == "ok" or report.fixed:
        return ExitCode.OK
    print(f"run `queuekit check-aof --fix {args.file}` to truncate it to the last valid command")
    return ExitCode.FAILURE


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add `check-aof` to the `queuekit` subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "check-aof",
        help="check an append-only file; --fix truncates it to the last valid command",
        description="Check the format of an append-only file and report the first bad byte.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="the append-only file")
    parser.add_argument(
        "--fix",
        action="store_true",
        help="truncate the file to the last valid command (what follows is lost)",
    )
    parser.set_defaults(handler=_check_aof)
    return parser
