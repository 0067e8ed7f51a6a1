"""PING, ECHO, TIME, INFO: the engine's own server commands (Redis's server.c).

INFO answers Redis's text layout byte for byte, for the sections the engine
has: memory, stats and keyspace, in Redis's order. A section the engine does
not have is left out, as Redis leaves out a section it does not know, so
`INFO server` is an empty string. Values that Redis estimates or that
describe its process (avg_ttl, used_memory) are the engine's own: avg_ttl is
the exact mean, used_memory the dataset estimate kept by `memory`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from queuekit.engine import errors
from queuekit.engine.command import NO_KEYS, command
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import PONG, Reply, Verbatim

if TYPE_CHECKING:
    from queuekit.engine.engine import Engine
    from queuekit.engine.session import Session

KIB = 1024
# bytesToHuman's units, each 1024 times the one before.
HUMAN_UNITS = ("K", "M", "G", "T", "P")
# INFO's arguments that select every section the engine has.
ALL_SECTIONS_ALIASES = frozenset((b"all", b"default", b"everything"))


def ping(db: Database, argv: Sequence[bytes]) -> Reply:
    """PING [message]"""
    if len(argv) > 2:
        raise CommandError(errors.wrong_arity(argv[0]))
    return PONG if len(argv) == 1 else argv[1]


def echo(db: Database, argv: Sequence[bytes]) -> Reply:
    """ECHO message"""
    return argv[1]


def time_(db: Database, argv: Sequence[bytes]) -> Reply:
    """TIME"""
    seconds, micros = divmod(db.clock.now_us(), 1_000_000)
    return [b"%d" % seconds, b"%d" % micros]


# -- INFO ---------------------------------------------------------------------


def bytes_to_human(size: int) -> str:
    """Redis's bytesToHuman: "1023B", "1.00K", "1.50M"..., two decimals past bytes."""
    if size < KIB:
        return f"{size}B"
    for power, unit in enumerate(HUMAN_UNITS, start=1):
        if size < KIB ** (power + 1):
            return f"{size / KIB**power:.2f}{unit}"
    return f"{size}B"


def memory_section(engine: Engine) -> str:
    used = engine.db.used_memory
    return (
        "# Memory\r\n"
        f"used_memory:{used}\r\n"
        f"used_memory_human:{bytes_to_human(used)}\r\n"
        f"maxmemory:{engine.maxmemory}\r\n"
        f"maxmemory_human:{bytes_to_human(engine.maxmemory)}\r\n"
        f"maxmemory_policy:{engine.maxmemory_policy}\r\n"
    )


def stats_section(engine: Engine) -> str:
    db = engine.db
    # Redis counts a command once it has run, so INFO does not count itself.
    processed = max(engine.commands_processed - 1, 0)
    return (
        "# Stats\r\n"
        f"total_commands_processed:{processed}\r\n"
        f"expired_keys:{db.expired_keys}\r\n"
        f"evicted_keys:{db.evicted_keys}\r\n"
        f"keyspace_hits:{db.keyspace_hits}\r\n"
        f"keyspace_misses:{db.keyspace_misses}\r\n"
    )


def keyspace_section(engine: Engine) -> str:
    db = engine.db
    keys, volatile = len(db.data), len(db.expires)
    if not keys and not volatile:
        return "# Keyspace\r\n"
    return f"# Keyspace\r\ndb0:keys={keys},expires={volatile},avg_ttl={average_ttl(db)}\r\n"


def average_ttl(db: Database) -> int:
    """The mean remaining TTL in ms of keys with one (Redis samples an estimate)."""
    expires = db.expires
    if not expires:
        return 0
    remaining = sum(expires.values()) - db.clock.now_ms() * len(expires)
    return max(remaining // len(expires), 0)


# Redis's section order; `info` picks from it.
SECTIONS: dict[bytes, Callable[[Engine], str]] = {
    b"memory": memory_section,
    b"stats": stats_section,
    b"keyspace": keyspace_section,
}


def info(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """INFO [section [section ...]]"""
    wanted = {arg.lower() for arg in argv[1:]}
    every = not wanted or not wanted.isdisjoint(ALL_SECTIONS_ALIASES)
    texts = [write(engine) for name, write in SECTIONS.items() if every or name in wanted]
    return Verbatim("\r\n".join(texts).encode())


COMMANDS = (
    command("ping", -1, "fast", NO_KEYS, ping),
    command("echo", 2, "loading stale fast", NO_KEYS, echo),
    command("time", 1, "loading stale fast", NO_KEYS, time_),
    command("info", -1, "loading stale", NO_KEYS, info, takes_session=True),
)
