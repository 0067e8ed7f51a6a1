"""What `queuekit` commands exit with; scripts and supervisors may rely on these."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What `queuekit` exits with; scripts and supervisors may rely on these."""

    OK = 0
    FAILURE = 1  # the command ran and failed
    USAGE = 2  # bad arguments (argparse's own code for them)
    STORE_UNAVAILABLE = 3  # the store could not be reached
    RECYCLE = 4  # a worker process asks to be replaced (max jobs, a sync job past its timeout)
    NO_WORKER = 5  # worker --check: no live worker serves these queues
    STALLED = 6  # worker --check: alive, but no job finished while jobs wait
    DRAIN_TIMEOUT = 7  # shutdown: jobs still running at the deadline were cancelled
    CRASH_LOOP = 8  # the supervisor gave up restarting a worker process that keeps dying
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
