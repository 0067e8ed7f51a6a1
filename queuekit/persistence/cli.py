"""`queuekit check-aof [--fix] PATH`: check append-only files, cut the last one if asked.

PATH is the AOF manifest, the directory holding it (DIR/appendonlydir, or
the data directory DIR), or one file. Each file is reported; --fix only
ever truncates the last file of the AOF (aofdir rule 6). Exit codes: OK
when every file is valid (or was fixed), FAILURE otherwise. Nothing is
written without --fix.
"""

from __future__ import annotations

import argparse
from typing import Any

from queuekit.exitcodes import ExitCode

EPILOG = """\
examples:
  queuekit check-aof data                 every file the manifest lists: valid, truncated or
                                          corrupt at an offset
  queuekit check-aof --fix data/appendonlydir/appendonly.aof.manifest
                                          cut the last file to its last valid command
  queuekit check-aof data/appendonlydir/appendonly.aof.3.incr.aof     one file
"""


def _check_aof(args: argparse.Namespace) -> ExitCode:
    from queuekit.errors import PersistenceError
    from queuekit.persistence.aofdir import check_path

    try:
        reports = check_path(args.path, fix=args.fix)
    except PersistenceError as error:
        print(error)
        return ExitCode.FAILURE
    for report in reports:
        print(report.describe())
    bad = [report for report in reports if report.status != "ok" and not report.fixed]
    if not bad:
        return ExitCode.OK
    if not args.fix and any(report.fixable and report.status != "missing" for report in bad):
        print(
            f"run `queuekit check-aof --fix {args.path}` to truncate the last file "
            "to its last valid command"
        )
    return ExitCode.FAILURE


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add `check-aof` to the `queuekit` subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "check-aof",
        help="check append-only files; --fix truncates the last one to its last valid command",
        description="Check the format of append-only files and report the first bad byte.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "path",
        metavar="PATH",
        help="the AOF manifest, its directory, the data directory, or one file",
    )
    parser.add_argument(
        "--fix",
        action="store_true",
        help="truncate the last file to its last valid command (what follows is lost)",
    )
    parser.set_defaults(handler=_check_aof)
    return parser
