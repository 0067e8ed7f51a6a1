"""String commands: GET, SET and friends, counters (Redis's t_string.c).

A string value is stored as bytes, or as an int once INCR-family commands
have made it a counter, so that INCR does not parse and format on every call
(Redis's "int" encoding, same idea). Both are type "string"; a handler that
needs the bytes calls `as_bytes`.
"""

from __future__ import annotations

from collections.abc import Sequence

from queuekit.engine import errors
from queuekit.engine.args import INT64_MAX, INT64_MIN, parse_int
from queuekit.engine.command import ONE_KEY, command
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import OK, Reply


def as_bytes(value: bytes | int) -> bytes:
    return value if type(value) is bytes else str(value).encode()


def get(db: Database, argv: Sequence[bytes]) -> Reply:
    """GET key"""
    value = db.lookup_read(argv[1])
    if value is None:
        return None
    if type(value) is bytes:
        return value
    if type(value) is int:
        return str(value).encode()
    raise CommandError(errors.WRONGTYPE)


def set_(db: Database, argv: Sequence[bytes]) -> Reply:
    """SET key value [NX | XX] [GET] [EX seconds | PX milliseconds |
    EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]"""
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)  # options: the strings module's work in progress
    db.replace(argv[1], argv[2])
    return OK


def incr_by(db: Database, key: bytes, increment: int) -> int:
    """The INCR family's shared body: parse, check overflow, store as a counter."""
    old = db.lookup_string(key)
    if old is None:
        current = 0
    elif type(old) is int:
        current = old
    else:
        current = parse_int(old)  # type: ignore[arg-type]
    value = current + increment
    if not INT64_MIN <= value <= INT64_MAX:
        raise CommandError(errors.OVERFLOW)
    db.set_string(key, value, old)
    return value


def incr(db: Database, argv: Sequence[bytes]) -> Reply:
    """INCR key"""
    return incr_by(db, argv[1], 1)


def decr(db: Database, argv: Sequence[bytes]) -> Reply:
    """DECR key"""
    return incr_by(db, argv[1], -1)


def incrby(db: Database, argv: Sequence[bytes]) -> Reply:
    """INCRBY key increment"""
    return incr_by(db, argv[1], parse_int(argv[2]))


def decrby(db: Database, argv: Sequence[bytes]) -> Reply:
    """DECRBY key decrement"""
    decrement = parse_int(argv[2])
    if decrement == INT64_MIN:
        raise CommandError("ERR decrement would overflow")
    return incr_by(db, argv[1], -decrement)


COMMANDS = (
    command("get", 2, "readonly fast", ONE_KEY, get),
    command("set", -3, "write denyoom", ONE_KEY, set_),
    command("incr", 2, "write denyoom fast", ONE_KEY, incr),
    command("decr", 2, "write denyoom fast", ONE_KEY, decr),
    command("incrby", 3, "write denyoom fast", ONE_KEY, incrby),
    command("decrby", 3, "write denyoom fast", ONE_KEY, decrby),
)
