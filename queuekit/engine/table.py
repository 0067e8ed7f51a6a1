"""The command table, assembled in one place from each module's COMMANDS.

Lookup is one dict access: every name is stored in lower and upper case, the
two spellings clients actually send; any other casing falls back to
`name.lower()` in the dispatcher.
"""

from __future__ import annotations

from queuekit.engine.command import Command
from queuekit.engine.commands import (
    hashes,
    keys,
    lists,
    server,
    sets,
    strings,
    transactions,
    zsets,
)

ALL_COMMANDS: tuple[Command, ...] = (
    *keys.COMMANDS,
    *strings.COMMANDS,
    *lists.COMMANDS,
    *sets.COMMANDS,
    *zsets.COMMANDS,
    *hashes.COMMANDS,
    *transactions.COMMANDS,
    *server.COMMANDS,
)


def command_table(commands: tuple[Command, ...] = ALL_COMMANDS) -> dict[bytes, Command]:
    table: dict[bytes, Command] = {}
    for cmd in commands:
        name = cmd.name.encode()
        if name in table:
            raise ValueError(f"command {cmd.name!r} is defined twice")
        table[name] = cmd
        table[name.upper()] = cmd
    return table
