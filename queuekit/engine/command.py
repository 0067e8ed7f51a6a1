"""One row of the command table: what the dispatcher checks before a handler runs.

A `Command` carries what Redis's command table carries: the name, the arity
in Redis's sign convention (N: exactly N arguments counting the name; -N: at
least N), flags, the key positions (first, last, step; last -1 means "to the
end"), and the handler. Each data-type module exports a `COMMANDS` tuple;
`table.py` assembles them in one place.

Handlers come in two shapes. A data handler, `handler(db, argv)`, sees only
the keyspace: that is nearly every command. A session handler,
`handler(engine, session, argv)`, is for the few that need the connection or
the whole engine (MULTI, WATCH, INFO, FLUSHALL...).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queuekit.engine.db import Database
    from queuekit.engine.engine import Engine
    from queuekit.engine.replies import Reply
    from queuekit.engine.session import Session

DataHandler = Callable[["Database", Sequence[bytes]], "Reply"]
SessionHandler = Callable[["Engine", "Session", Sequence[bytes]], "Reply"]

# Flags, spelled as Redis's COMMAND INFO spells them.
WRITE = "write"
READONLY = "readonly"
DENYOOM = "denyoom"  # refused when used memory is over maxmemory
FAST = "fast"
BLOCKING = "blocking"
ADMIN = "admin"
NOSCRIPT = "noscript"
LOADING = "loading"
STALE = "stale"
# Refused inside MULTI (SUBSCRIBE and friends: their replies cannot nest in EXEC's).
NO_MULTI = "no-multi"
# Runs at once even inside MULTI (EXEC, DISCARD, MULTI, WATCH...). Redis
# hard-codes that list in processCommand; here it is a flag in the table.
NO_QUEUE = "no-queue"


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    arity: int
    flags: frozenset[str]
    first_key: int
    last_key: int
    key_step: int
    handler: Any  # DataHandler or SessionHandler, as `takes_session` says
    takes_session: bool
    # Precomputed from flags: the dispatcher reads these on every call.
    is_write: bool
    deny_oom: bool
    queues_in_multi: bool
    # This row's index in every engine's call counters (Engine.calls), unique
    # in the process: a list index costs the dispatcher half a dict update.
    number: int

    def keys(self, argv: Sequence[bytes]) -> list[bytes]:
        """The key arguments of one call, per the table's key positions."""
        if self.first_key == 0:
            return []
        last = len(argv) + self.last_key if self.last_key < 0 else self.last_key
        return list(argv[self.first_key : last + 1 : self.key_step])


_row_numbers = itertools.count()  # Command.number


def command(
    name: str,
    arity: int,
    flags: str,
    keys: tuple[int, int, int],
    handler: DataHandler | SessionHandler,
    *,
    takes_session: bool = False,
) -> Command:
    """A table row: `flags` is space-separated, `keys` is (first, last, step)."""
    flag_set = frozenset(flags.split())
    return Command(
        name=name,
        arity=arity,
        flags=flag_set,
        first_key=keys[0],
        last_key=keys[1],
        key_step=keys[2],
        handler=handler,
        takes_session=takes_session,
        is_write=WRITE in flag_set,
        deny_oom=DENYOOM in flag_set,
        queues_in_multi=NO_QUEUE not in flag_set,
        number=next(_row_numbers),
    )


NO_KEYS = (0, 0, 0)
ONE_KEY = (1, 1, 1)
ALL_KEYS = (1, -1, 1)
