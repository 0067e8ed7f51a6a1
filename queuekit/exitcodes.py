"""What `queuekit` commands exit with; scripts and supervisors may rely on these."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What `queuekit` exits with; scripts and supervisors may rely on these."""

    OK = 0
    FAILURE = 1  # the command ran and failed
    USAGE = 2  # bad arguments (argparse's own code for them)
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
