"""Work in progress."""

from __future__ import annotations

from queuekit.engine.command import Command

COMMANDS: tuple[Command, ...] = ()
