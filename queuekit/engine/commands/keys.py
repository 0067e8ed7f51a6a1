"""Commands on keys of any type: DEL, EXPIRE, RENAME, COPY, SCAN... (Redis's db.c, expire.c).

Rules kept here:
1. Expired keys are invisible. Commands that name a key find it through
   `db.lookup*`, which reclaims it; KEYS skips it without reclaiming (as Redis
   does), SCAN reclaims what it meets, RANDOMKEY retries past it.
2. Keyspace hits and misses are counted only by the reads Redis counts them
   for (EXISTS, TYPE, the TTL family, COPY's source, SCAN's TYPE filter).
3. A deadline at or before now deletes the key on the spot (EXPIRE -1 is a
   DEL), which Redis does not count as an expired key.
4. RENAME moves the value in O(1) and keeps its TTL; COPY copies the value
   deeply and its TTL. A destination that a blocked pop waits on becomes
   ready either way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from queuekit.engine import errors
from queuekit.engine.args import INT64_MAX, parse_int
from queuekit.engine.command import ALL_KEYS, NO_KEYS, ONE_KEY, command
from queuekit.engine.db import TYPE_NAMES, Database
from queuekit.engine.errors import CommandError
from queuekit.engine.glob import glob_match
from queuekit.engine.replies import OK, Reply, Status
from queuekit.engine.scan import ScanOptions, parse_cursor, parse_options

# EXPIRE's NX XX GT LT options, as bits (Redis's EXPIRE_NX...).
EXPIRE_NX, EXPIRE_XX, EXPIRE_GT, EXPIRE_LT = 1, 2, 4, 8
_EXPIRE_OPTIONS = {b"NX": EXPIRE_NX, b"XX": EXPIRE_XX, b"GT": EXPIRE_GT, b"LT": EXPIRE_LT}
# EXPIRE in seconds refuses what would overflow once in ms: C's LLONG_MAX / 1000.
MAX_EXPIRE_SECONDS = INT64_MAX // 1000
# COPY's DB is a C int (getIntFromObjectOrReply); Redis has 16 databases, the engine only db 0.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
TYPE_STATUS = {kind: Status(name) for kind, name in TYPE_NAMES.items()}
NONE_STATUS = Status(b"none")


# -- existence and type -------------------------------------------------------


def del_(db: Database, argv: Sequence[bytes]) -> Reply:
    """DEL key [key ...]"""
    if len(argv) == 2:
        return 1 if db.delete(argv[1]) else 0
    delete = db.delete
    return sum(1 for key in argv[1:] if delete(key))


def exists(db: Database, argv: Sequence[bytes]) -> Reply:
    """EXISTS key [key ...]"""
    if len(argv) == 2:
        return 0 if db.lookup_read(argv[1]) is None else 1
    lookup = db.lookup_read
    return sum(1 for key in argv[1:] if lookup(key) is not None)


def type_(db: Database, argv: Sequence[bytes]) -> Reply:
    """TYPE key"""
    value = db.lookup_read(argv[1])
    return NONE_STATUS if value is None else TYPE_STATUS[type(value)]


# -- TTLs ---------------------------------------------------------------------


def parse_expire_flags(argv: Sequence[bytes]) -> int:
    """EXPIRE's options after the time (Redis's parseExtendedExpireArgumentsOrReply)."""
    flags = 0
    for option in argv[3:]:
        flag = _EXPIRE_OPTIONS.get(option.upper())
        if flag is None:
            raise CommandError(errors.unsupported_option(option))
        flags |= flag
    if flags & EXPIRE_NX and flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT):
        raise CommandError(errors.EXPIRE_NX_AND_OTHERS)
    if flags & EXPIRE_GT and flags & EXPIRE_LT:
        raise CommandError(errors.EXPIRE_GT_AND_LT)
    return flags


def expire_refused(flags: int, current: int | None, when: int) -> bool:
    """True if NX/XX/GT/LT forbid replacing deadline `current` (None: no TTL) by `when`."""
    if flags & EXPIRE_NX:
        return current is not None
    if flags & EXPIRE_XX and current is None:
        return True
    if flags & EXPIRE_GT:
        # No TTL counts as an infinite one: nothing is greater.
        return current is None or when <= current
    if flags & EXPIRE_LT:
        return current is not None and when >= current
    return False


def expire_generic(db: Database, argv: Sequence[bytes], base_ms: int, unit_ms: int) -> int:
    """The EXPIRE family's shared body (Redis's expireGenericCommand)."""
    flags = parse_expire_flags(argv)
    when = parse_int(argv[2])
    if unit_ms == 1000:
        if not -MAX_EXPIRE_SECONDS <= when <= MAX_EXPIRE_SECONDS:
            raise CommandError(errors.invalid_expire_time(_name(argv)))
        when *= 1000
    if when > INT64_MAX - base_ms:
        raise CommandError(errors.invalid_expire_time(_name(argv)))
    when += base_ms
    key = argv[1]
    if db.lookup(key) is None:
        return 0
    if flags and expire_refused(flags, db.deadline(key), when):
        return 0
    if when <= db.clock.now_ms() and not db.loading:
        db.delete(key)
    else:
        db.set_deadline(key, when)
    return 1


def _name(argv: Sequence[bytes]) -> str:
    return argv[0].decode("latin-1").lower()


def expire(db: Database, argv: Sequence[bytes]) -> Reply:
    """EXPIRE key seconds [NX | XX | GT | LT]"""
    return expire_generic(db, argv, db.clock.now_ms(), 1000)


def pexpire(db: Database, argv: Sequence[bytes]) -> Reply:
    """PEXPIRE key milliseconds [NX | XX | GT | LT]"""
    return expire_generic(db, argv, db.clock.now_ms(), 1)


def expireat(db: Database, argv: Sequence[bytes]) -> Reply:
    """EXPIREAT key unix-time-seconds [NX | XX | GT | LT]"""
    return expire_generic(db, argv, 0, 1000)


def pexpireat(db: Database, argv: Sequence[bytes]) -> Reply:
    """PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]"""
    return expire_generic(db, argv, 0, 1)


def ttl_generic(db: Database, key: bytes, *, in_ms: bool, absolute: bool) -> int:
    """The TTL family's shared body: -2 if the key is absent, -1 if it has no TTL."""
    if db.lookup_read(key) is None:
        return -2
    when = db.deadline(key)
    if when is None:
        return -1
    ttl = when if absolute else max(when - db.clock.now_ms(), 0)
    return ttl if in_ms else (ttl + 500) // 1000


def ttl(db: Database, argv: Sequence[bytes]) -> Reply:
    """TTL key"""
    return ttl_generic(db, argv[1], in_ms=False, absolute=False)


def pttl(db: Database, argv: Sequence[bytes]) -> Reply:
    """PTTL key"""
    return ttl_generic(db, argv[1], in_ms=True, absolute=False)


def expiretime(db: Database, argv: Sequence[bytes]) -> Reply:
    """EXPIRETIME key"""
    return ttl_generic(db, argv[1], in_ms=False, absolute=True)


def pexpiretime(db: Database, argv: Sequence[bytes]) -> Reply:
    """PEXPIRETIME key"""
    return ttl_generic(db, argv[1], in_ms=True, absolute=True)


def persist(db: Database, argv: Sequence[bytes]) -> Reply:
    """PERSIST key"""
    key = argv[1]
    if db.lookup(key) is None:
        return 0
    return 1 if db.persist(key) else 0


# -- RENAME and COPY ------------------------------------------------------------


def rename_generic(db: Database, argv: Sequence[bytes], *, nx: bool) -> Reply:
    """RENAME and RENAMENX (Redis's renameGenericCommand)."""
    src, dest = argv[1], argv[2]
    if db.lookup(src) is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if src == dest:
        return 0 if nx else OK
    if db.lookup(dest) is not None:
        if nx:
            return 0
        db.delete(dest)
    db.rename(src, dest)
    return 1 if nx else OK


def rename(db: Database, argv: Sequence[bytes]) -> Reply:
    """RENAME key newkey"""
    return rename_generic(db, argv, nx=False)


def renamenx(db: Database, argv: Sequence[bytes]) -> Reply:
    """RENAMENX key newkey"""
    return rename_generic(db, argv, nx=True)


def copy_value(value: Any) -> Any:
    """A copy sharing nothing mutable: elements are bytes, so one level is deep."""
    kind = type(value)
    if kind is bytes or kind is int:
        return value
    if kind is deque:
        return deque(value)
    if kind is set:
        return set(value)
    if kind is dict:
        return dict(value)
    return value.copy()  # ZSet


def parse_copy_options(argv: Sequence[bytes]) -> bool:
    """COPY's [DB destination-db] [REPLACE]; returns REPLACE. Only db 0 exists."""
    replace = False
    index = 3
    while index < len(argv):
        option = argv[index].upper()
        if option == b"REPLACE":
            replace = True
        elif option == b"DB" and index + 1 < len(argv):
            index += 1
            db_index = parse_int(argv[index])
            if not INT32_MIN <= db_index <= INT32_MAX:
                raise CommandError(errors.value_out_of_range(INT32_MIN, INT32_MAX))
            if db_index != 0:
                raise CommandError(errors.DB_INDEX_OUT_OF_RANGE)
        else:
            raise CommandError(errors.SYNTAX)
        index += 1
    return replace


def copy(db: Database, argv: Sequence[bytes]) -> Reply:
    """COPY source destination [DB destination-db] [REPLACE]"""
    replace = parse_copy_options(argv)
    src, dest = argv[1], argv[2]
    if src == dest:
        raise CommandError(errors.SAME_OBJECT)
    value = db.lookup_read(src)
    if value is None:
        return 0
    if db.lookup(dest) is not None:
        if not replace:
            return 0
        db.delete(dest)
    db.add(dest, copy_value(value))
    when = db.deadline(src)
    if when is not None:
        db.set_deadline(dest, when)
    return 1


# -- the whole keyspace ---------------------------------------------------------


def keys(db: Database, argv: Sequence[bytes]) -> Reply:
    """KEYS pattern"""
    pattern = argv[1]
    data, expires = db.data, db.expires
    if pattern == b"*":
        if not expires:
            return list(data)
        candidates: Any = data
    else:
        candidates = [key for key in data if glob_match(pattern, key)]
        if not expires:
            return candidates
    # Skipped, not reclaimed: Redis's KEYS only checks keyIsExpired.
    now = db.clock.now_ms()
    return [key for key in candidates if expires.get(key, INT64_MAX) > now]


def scan(db: Database, argv: Sequence[bytes]) -> Reply:
    """SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]"""
    cursor = parse_cursor(argv[1])
    options = parse_options(argv, 2, allow_type=True)
    next_cursor, batch = db.cursors.step(cursor, db.data.keys, options.count)
    return [b"%d" % next_cursor, [key for key in batch if scan_keeps(db, key, options)]]


def scan_keeps(db: Database, key: bytes, options: ScanOptions) -> bool:
    """SCAN's filters, in Redis's order: gone since the snapshot, MATCH, TYPE, expired."""
    if key not in db.data:
        return False
    if options.pattern is not None and not glob_match(options.pattern, key):
        return False
    if db.is_expired(key):
        db.expire_now(key)
        if options.type_name is not None:
            db.keyspace_misses += 1  # TYPE's lookup met the expired key
        return False
    if options.type_name is not None:
        db.keyspace_hits += 1
        return TYPE_NAMES[type(db.data[key])] == options.type_name
    return True


def randomkey(db: Database, argv: Sequence[bytes]) -> Reply:
    """RANDOMKEY"""
    return db.random_key()


def dbsize(db: Database, argv: Sequence[bytes]) -> Reply:
    """DBSIZE"""
    # Redis answers dictSize(db->dict): keys that are logically expired but not
    # yet reclaimed (by a lookup or the active expire cycle) still count.
    return len(db.data)


def flush_generic(db: Database, argv: Sequence[bytes]) -> Reply:
    """FLUSHDB's and FLUSHALL's shared body: with one database they do the same."""
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError(errors.SYNTAX)
    db.flush()
    return OK


def flushdb(db: Database, argv: Sequence[bytes]) -> Reply:
    """FLUSHDB [ASYNC | SYNC]"""
    return flush_generic(db, argv)


def flushall(db: Database, argv: Sequence[bytes]) -> Reply:
    """FLUSHALL [ASYNC | SYNC]"""
    return flush_generic(db, argv)


COMMANDS = (
    command("del", -2, "write", ALL_KEYS, del_),
    command("unlink", -2, "write fast", ALL_KEYS, del_),
    command("exists", -2, "readonly fast", ALL_KEYS, exists),
    command("type", 2, "readonly fast", ONE_KEY, type_),
    command("expire", -3, "write fast", ONE_KEY, expire),
    command("pexpire", -3, "write fast", ONE_KEY, pexpire),
    command("expireat", -3, "write fast", ONE_KEY, expireat),
    command("pexpireat", -3, "write fast", ONE_KEY, pexpireat),
    command("expiretime", 2, "readonly fast", ONE_KEY, expiretime),
    command("pexpiretime", 2, "readonly fast", ONE_KEY, pexpiretime),
    command("ttl", 2, "readonly fast", ONE_KEY, ttl),
    command("pttl", 2, "readonly fast", ONE_KEY, pttl),
    command("persist", 2, "write fast", ONE_KEY, persist),
    command("rename", 3, "write", (1, 2, 1), rename),
    command("renamenx", 3, "write fast", (1, 2, 1), renamenx),
    command("copy", -3, "write denyoom", (1, 2, 1), copy),
    command("keys", 2, "readonly", NO_KEYS, keys),
    command("scan", -2, "readonly", NO_KEYS, scan),
    command("randomkey", 1, "readonly", NO_KEYS, randomkey),
    command("dbsize", 1, "readonly fast", NO_KEYS, dbsize),
    command("flushdb", -1, "write", NO_KEYS, flushdb),
    command("flushall", -1, "write", NO_KEYS, flushall),
)
