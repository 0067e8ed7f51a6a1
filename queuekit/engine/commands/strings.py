"""String commands: GET, SET and friends, counters (Redis's t_string.c).

A string value is stored as bytes, or as an int once INCR-family commands
have made it a counter, so that INCR does not parse and format on every call
(Redis's "int" encoding, same idea). Both are type "string"; a handler that
needs the bytes calls `as_bytes`, and every reply that shows a string value
shows bytes.

Rules kept here, as t_string.c keeps them:

1. SET stores bytes and drops the TTL unless KEEPTTL; in-place changes
   (APPEND, SETRANGE, the INCR family) keep it (`db.set_string`).
2. Options are checked before the value: a syntax error beats a bad number,
   a bad expire time beats WRONGTYPE for SET, and SET ... GET on a key of
   another type answers WRONGTYPE and sets nothing.
3. Expiry options become absolute deadlines in ms; a value that is <= 0 or
   whose deadline overflows int64 is "invalid expire time".
4. No string grows past MAX_STRING_BYTES.
"""

from __future__ import annotations

from collections.abc import Sequence

from queuekit.engine import errors, longdouble
from queuekit.engine.args import INT64_MAX, INT64_MIN, parse_int
from queuekit.engine.command import ONE_KEY, command
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import OK, Reply

# proto-max-bulk-len's default: no string may grow beyond it (512 MB).
MAX_STRING_BYTES = 512 * 1024 * 1024

# SET and GETEX option flags, as Redis's OBJ_SET_NX... bits.
NX = 1 << 0
XX = 1 << 1
GET = 1 << 2
KEEPTTL = 1 << 3
PERSIST = 1 << 4
EX = 1 << 5
PX = 1 << 6
EXAT = 1 << 7
PXAT = 1 << 8
EXPIRY = EX | PX | EXAT | PXAT
SECONDS = EX | EXAT  # the others are in milliseconds
RELATIVE = EX | PX  # the others are Unix times
# Seconds beyond this overflow int64 once in milliseconds.
MAX_EXPIRE_SECONDS = INT64_MAX // 1000

# option -> (flag, the flags it cannot follow, whether a value follows).
# Redis's parseExtendedStringArgumentsOrReply: EX after EX is allowed (the
# last one wins), EX after PX is not.
SET_OPTIONS: dict[bytes, tuple[int, int, bool]] = {
    b"NX": (NX, XX, False),
    b"XX": (XX, NX, False),
    b"GET": (GET, 0, False),
    b"KEEPTTL": (KEEPTTL, EXPIRY, False),
    b"EX": (EX, KEEPTTL | EXPIRY & ~EX, True),
    b"PX": (PX, KEEPTTL | EXPIRY & ~PX, True),
    b"EXAT": (EXAT, KEEPTTL | EXPIRY & ~EXAT, True),
    b"PXAT": (PXAT, KEEPTTL | EXPIRY & ~PXAT, True),
}
GETEX_OPTIONS: dict[bytes, tuple[int, int, bool]] = {
    b"PERSIST": (PERSIST, EXPIRY, False),
    b"EX": (EX, PERSIST | EXPIRY & ~EX, True),
    b"PX": (PX, PERSIST | EXPIRY & ~PX, True),
    b"EXAT": (EXAT, PERSIST | EXPIRY & ~EXAT, True),
    b"PXAT": (PXAT, PERSIST | EXPIRY & ~PXAT, True),
}
# Lower case too, so that the usual spellings are found in one dict lookup.
SET_OPTIONS.update({name.lower(): spec for name, spec in SET_OPTIONS.items()})
GETEX_OPTIONS.update({name.lower(): spec for name, spec in GETEX_OPTIONS.items()})


def as_bytes(value: bytes | int) -> bytes:
    return value if type(value) is bytes else str(value).encode()


def read_string(db: Database, key: bytes) -> bytes | None:
    """A read command's lookup (it counts hits): the value as bytes, or None."""
    value = db.lookup_read(key)
    if value is None or type(value) is bytes:
        return value
    if type(value) is int:
        return str(value).encode()
    raise CommandError(errors.WRONGTYPE)


def check_length(size: int, append: int) -> None:
    """Redis's checkStringLength: the result may not exceed MAX_STRING_BYTES."""
    if size + append > MAX_STRING_BYTES:
        raise CommandError(errors.STRING_TOO_LONG)


# -- GET, SET and their variants -----------------------------------------------


def get(db: Database, argv: Sequence[bytes]) -> Reply:
    """GET key"""
    # read_string and lookup_read, inlined: GET is a hot path.
    value = db.lookup(argv[1])
    if value is None:
        db.keyspace_misses += 1
        return None
    db.keyspace_hits += 1
    if type(value) is bytes:
        return value
    if type(value) is int:
        return str(value).encode()
    raise CommandError(errors.WRONGTYPE)


def parse_options(
    argv: Sequence[bytes], start: int, table: dict[bytes, tuple[int, int, bool]]
) -> tuple[int, bytes | None]:
    """The flags and the expire argument of SET or GETEX, or a syntax error.

    Redis compares options as C strings, so "NX\\0junk" is NX.
    """
    flags = 0
    expire: bytes | None = None
    index = start
    while index < len(argv):
        spec = table.get(argv[index])
        if spec is None:
            spec = table.get(argv[index].split(b"\0", 1)[0].upper())
        if spec is None or flags & spec[1]:
            raise CommandError(errors.SYNTAX)
        flags |= spec[0]
        if spec[2]:
            index += 1
            if index == len(argv):
                raise CommandError(errors.SYNTAX)
            expire = argv[index]
        index += 1
    return flags, expire


def expire_deadline(db: Database, raw: bytes, flags: int, name: str) -> int:
    """An EX/PX/EXAT/PXAT argument as an absolute deadline in ms (rule 3)."""
    value = parse_int(raw)
    if flags & SECONDS:
        if not 0 < value <= MAX_EXPIRE_SECONDS:
            raise CommandError(errors.invalid_expire_time(name))
        value *= 1000
    elif value <= 0:
        raise CommandError(errors.invalid_expire_time(name))
    if flags & RELATIVE:
        value += db.clock.now_ms()
        if value > INT64_MAX:
            raise CommandError(errors.invalid_expire_time(name))
    return value


def set_(db: Database, argv: Sequence[bytes]) -> Reply:
    """SET key value [NX | XX] [GET] [EX seconds | PX milliseconds |
    EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]"""
    key = argv[1]
    if len(argv) == 3:
        db.replace(key, argv[2])
        return OK
    flags, expire = parse_options(argv, 3, SET_OPTIONS)
    deadline = None if expire is None else expire_deadline(db, expire, flags, "set")
    # Redis's setGenericCommand: GET replies first, then NX/XX may refuse.
    reply = read_string(db, key) if flags & GET else OK
    if flags & (NX | XX):
        found = db.lookup(key) is not None
        if (flags & NX and found) or (flags & XX and not found):
            return reply if flags & GET else None
    db.replace(key, argv[2], keep_ttl=flags & KEEPTTL != 0)
    if deadline is not None:
        # Redis's setExpire: a deadline already past (EXAT 1) is stored as
        # it is, and the key dies at its next lookup; DBSIZE counts it till then.
        db.expires[key] = deadline
    return reply


def setnx(db: Database, argv: Sequence[bytes]) -> Reply:
    """SETNX key value"""
    if db.lookup(argv[1]) is not None:
        return 0
    db.add(argv[1], argv[2])
    return 1


def setex(db: Database, argv: Sequence[bytes]) -> Reply:
    """SETEX key seconds value"""
    deadline = expire_deadline(db, argv[2], EX, "setex")
    db.replace(argv[1], argv[3])
    db.expires[argv[1]] = deadline  # in the future: EX counts from now
    return OK


def psetex(db: Database, argv: Sequence[bytes]) -> Reply:
    """PSETEX key milliseconds value"""
    deadline = expire_deadline(db, argv[2], PX, "psetex")
    db.replace(argv[1], argv[3])
    db.expires[argv[1]] = deadline  # in the future: PX counts from now
    return OK


def getset(db: Database, argv: Sequence[bytes]) -> Reply:
    """GETSET key value"""
    old = read_string(db, argv[1])
    db.replace(argv[1], argv[2])
    return old


def getdel(db: Database, argv: Sequence[bytes]) -> Reply:
    """GETDEL key"""
    old = read_string(db, argv[1])
    if old is not None:
        db.delete(argv[1])
    return old


def getex(db: Database, argv: Sequence[bytes]) -> Reply:
    """GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
    PXAT unix-time-milliseconds | PERSIST]"""
    flags, expire = parse_options(argv, 2, GETEX_OPTIONS)
    key = argv[1]
    value = read_string(db, key)
    if value is None:
        return None
    if expire is not None:
        db.set_deadline(key, expire_deadline(db, expire, flags, "getex"))
    elif flags & PERSIST:
        db.persist(key)
    return value


def mget(db: Database, argv: Sequence[bytes]) -> Reply:
    """MGET key [key ...]"""
    values: list[bytes | None] = []
    for key in argv[1:]:
        value = db.lookup_read(key)
        if type(value) is int:
            value = str(value).encode()
        values.append(value if type(value) is bytes else None)
    return values


def mset(db: Database, argv: Sequence[bytes]) -> Reply:
    """MSET key value [key value ...]"""
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity(argv[0]))
    for index in range(1, len(argv), 2):
        db.replace(argv[index], argv[index + 1])
    return OK


def msetnx(db: Database, argv: Sequence[bytes]) -> Reply:
    """MSETNX key value [key value ...]"""
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity(argv[0]))
    if any(db.lookup(argv[index]) is not None for index in range(1, len(argv), 2)):
        return 0
    for index in range(1, len(argv), 2):
        db.replace(argv[index], argv[index + 1])
    return 1


# -- counters ----------------------------------------------------------------


def incr_by(db: Database, key: bytes, increment: int) -> int:
    """The INCR family's shared body: parse, check overflow, store as a counter."""
    old = db.lookup(key)
    if type(old) is int:
        value = old + increment
        if INT64_MIN <= value <= INT64_MAX:
            # The hot path: an int replaces an int, so used_memory stays put.
            db.data[key] = value
            if db.watchers:
                db.modified(key)
            else:  # modified()'s count, without the call
                db.changes += 1
            return value
        raise CommandError(errors.OVERFLOW)
    if old is None:
        value = increment
    elif type(old) is bytes:
        value = parse_int(old) + increment
    else:
        raise CommandError(errors.WRONGTYPE)
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
        raise CommandError(errors.DECREMENT_OVERFLOW)
    return incr_by(db, argv[1], -decrement)


def parse_long_double(raw: bytes | int | None) -> longdouble.Finite | None:
    """A stored value or an increment as strtold reads it; None is infinity."""
    if raw is None:
        return longdouble.ZERO
    if type(raw) is int:
        return longdouble.from_int(raw)
    try:
        return longdouble.parse(raw)  # type: ignore[arg-type]
    except ValueError:
        raise CommandError(errors.NOT_FLOAT) from None


def incrbyfloat(db: Database, argv: Sequence[bytes]) -> Reply:
    """INCRBYFLOAT key increment"""
    key = argv[1]
    old = db.lookup_string(key)
    value = parse_long_double(old)
    increment = parse_long_double(argv[2])
    total = None if value is None or increment is None else longdouble.add(value, increment)
    if total is None:
        raise CommandError(errors.NAN_OR_INFINITY)
    text = longdouble.to_text(total)
    db.set_string(key, text, old)
    return text


# -- in-place edits ----------------------------------------------------------


def append(db: Database, argv: Sequence[bytes]) -> Reply:
    """APPEND key value"""
    key, suffix = argv[1], argv[2]
    old = db.lookup_string(key)
    if old is None:
        db.set_string(key, suffix, None)
        return len(suffix)
    current = as_bytes(old)
    check_length(len(current), len(suffix))
    value = current + suffix
    db.set_string(key, value, old)
    return len(value)


def strlen(db: Database, argv: Sequence[bytes]) -> Reply:
    """STRLEN key"""
    value = db.lookup_read(argv[1])
    if value is None:
        return 0
    if type(value) is bytes:
        return len(value)
    if type(value) is int:
        return len(str(value))
    raise CommandError(errors.WRONGTYPE)


def getrange(db: Database, argv: Sequence[bytes]) -> Reply:
    """GETRANGE key start end"""
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    value = read_string(db, argv[1])
    if not value or (start < 0 and end < 0 and start > end):
        return b""
    size = len(value)
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    end = min(end, size - 1)
    return value[start : end + 1] if start <= end else b""


def setrange(db: Database, argv: Sequence[bytes]) -> Reply:
    """SETRANGE key offset value"""
    key, patch = argv[1], argv[3]
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError(errors.OFFSET_OUT_OF_RANGE)
    old = db.lookup_string(key)
    if old is None:
        if not patch:
            return 0  # nothing to write: the key is not created
        check_length(offset, len(patch))
        value = bytes(offset) + patch
    else:
        current = as_bytes(old)
        if not patch:
            return len(current)
        check_length(offset, len(patch))
        padding = bytes(offset - len(current)) if offset > len(current) else b""
        value = current[:offset] + padding + patch + current[offset + len(patch) :]
    db.set_string(key, value, old)
    return len(value)


COMMANDS = (
    command("get", 2, "readonly fast", ONE_KEY, get),
    command("set", -3, "write denyoom", ONE_KEY, set_),
    command("setnx", 3, "write denyoom fast", ONE_KEY, setnx),
    command("setex", 4, "write denyoom", ONE_KEY, setex),
    command("psetex", 4, "write denyoom", ONE_KEY, psetex),
    command("getset", 3, "write denyoom fast", ONE_KEY, getset),
    command("getdel", 2, "write fast", ONE_KEY, getdel),
    command("getex", -2, "write fast", ONE_KEY, getex),
    command("mget", -2, "readonly fast", (1, -1, 1), mget),
    command("mset", -3, "write denyoom", (1, -1, 2), mset),
    command("msetnx", -3, "write denyoom", (1, -1, 2), msetnx),
    command("incr", 2, "write denyoom fast", ONE_KEY, incr),
    command("decr", 2, "write denyoom fast", ONE_KEY, decr),
    command("incrby", 3, "write denyoom fast", ONE_KEY, incrby),
    command("decrby", 3, "write denyoom fast", ONE_KEY, decrby),
    command("incrbyfloat", 3, "write denyoom fast", ONE_KEY, incrbyfloat),
    command("append", 3, "write denyoom fast", ONE_KEY, append),
    command("strlen", 2, "readonly fast", ONE_KEY, strlen),
    command("getrange", 4, "readonly", ONE_KEY, getrange),
    command("setrange", 4, "write denyoom", ONE_KEY, setrange),
)
