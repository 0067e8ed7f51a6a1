"""PING, ECHO, TIME, INFO: the engine's own server commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from queuekit.engine.command import NO_KEYS, command
from queuekit.engine.db import Database
from queuekit.engine.replies import PONG, Reply

if TYPE_CHECKING:
    pass


def ping(db: Database, argv: Sequence[bytes]) -> Reply:
    """PING [message]"""
    if len(argv) > 2:
        from queuekit.engine import errors
        from queuekit.engine.errors import CommandError

        raise CommandError(errors.wrong_arity(argv[0]))
    return PONG if len(argv) == 1 else argv[1]


COMMANDS = (command("ping", -1, "fast stale", NO_KEYS, ping),)
