"""`queuekit check-snapshot FILE`: read a snapshot through and say whether it loads.

Exit codes: OK when the file is valid, FAILURE when it is damaged (the
message names the byte offset) or cannot be read. It never writes: a
damaged snapshot has no valid prefix worth keeping, unlike an AOF.
"""

from __future__ import annotations

import argparse
from typing import Any

from queuekit.exitcodes import ExitCode

EPILOG = """\
examples:
  queuekit check-snapshot data/dump.qkdb     valid (keys, bytes, when taken), or where it is damaged
"""


def _check_snapshot(args: argparse.Namespace) -> ExitCode:
    from queuekit.errors import PersistenceError
    from queuekit.persistence.snapshot import check_snapshot

    try:
        report = check_snapshot(args.file)
    except PersistenceError as error:
        print(error)
        return ExitCode.FAILURE
    print(report.describe())
    return ExitCode.OK


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add `check-snapshot` to the `queuekit` subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "check-snapshot",
        help="check a snapshot file (dump.qkdb): valid, or damaged at a byte offset",
        description="Read a snapshot through, as the server loads it; report the first bad byte.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="the snapshot, e.g. DIR/dump.qkdb")
    parser.set_defaults(handler=_check_snapshot)
    return parser
