"""Hash commands (Redis's t_hash.c).

A hash is a Python `dict` of bytes to bytes. Rules:

1. A hash is never empty: HDEL deletes the key it empties. Writers that may
   fail (HINCRBY on a bad value) check before they create anything.
2. used_memory moves by `hash_field_cost` for a new or deleted field and by
   the value's length difference for an overwritten one.
3. Reads count keyspace hits and misses (Redis's lookupKeyRead); writes do not.
4. Counters are kept as decimal text, as Redis stores them: HINCRBY parses
   the stored value with string2ll's rules, HINCRBYFLOAT with strtold's, in
   long double arithmetic (see `longdouble`).
5. In RESP3 HGETALL answers a map and HRANDFIELD WITHVALUES an array of
   [field, value] pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

from queuekit.engine import errors, longdouble
from queuekit.engine.args import INT64_MAX, INT64_MIN, parse_int, parse_range
from queuekit.engine.command import ONE_KEY, command
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.glob import glob_match
from queuekit.engine.memory import BYTES_HEADER, DICT_SLOT
from queuekit.engine.replies import OK, Pairs, Reply
from queuekit.engine.scan import WHOLE_REPLY_MAX_ELEMENTS, parse_cursor, parse_options

# hash_field_cost minus the payloads, for pricing fields in bulk.
FIELD_OVERHEAD = DICT_SLOT + 2 * BYTES_HEADER
# HRANDFIELD WITHVALUES refuses counts whose reply length would overflow (LONG_MAX/2).
WITHVALUES_COUNT_MAX = INT64_MAX // 2


def writable(db: Database, key: bytes) -> dict[bytes, bytes]:
    """The hash at `key`, created empty if absent (hashTypeLookupWriteOrCreate).

    The caller must store a field before it returns (rule 1).
    """
    fields: dict[bytes, bytes] | None = db.lookup_typed(key, dict)
    if fields is None:
        fields = {}
        db.add(key, fields)
    return fields


def set_field(db: Database, fields: dict[bytes, bytes], field: bytes, value: bytes) -> bool:
    """Store one field, priced (rule 2); True if it is new."""
    old = fields.get(field)
    fields[field] = value
    if old is None:
        db.used_memory += FIELD_OVERHEAD + len(field) + len(value)
        return True
    db.used_memory += len(value) - len(old)
    return False


# -- writes ---------------------------------------------------------------------


def hset(db: Database, argv: Sequence[bytes]) -> Reply:
    """HSET key field value [field value ...]"""
    if len(argv) != 4:
        return hset_generic(db, argv)
    key, field, value = argv[1], argv[2], argv[3]
    fields = db.lookup_typed(key, dict)
    if fields is None:
        db.add(key, {field: value})
        return 1
    old = fields.get(field)
    fields[field] = value
    db.modified(key)
    if old is None:
        db.used_memory += FIELD_OVERHEAD + len(field) + len(value)
        return 1
    db.used_memory += len(value) - len(old)
    return 0


def hmset(db: Database, argv: Sequence[bytes]) -> Reply:
    """HMSET key field value [field value ...]"""
    hset_generic(db, argv)
    return OK


def hset_generic(db: Database, argv: Sequence[bytes]) -> int:
    """HSET and HMSET: the pairs must be complete; returns how many fields are new."""
    if len(argv) % 2:
        raise CommandError(errors.wrong_arity(argv[0]))
    key = argv[1]
    fields = writable(db, key)
    created = 0
    for index in range(2, len(argv), 2):
        created += set_field(db, fields, argv[index], argv[index + 1])
    db.modified(key)
    return created


def hsetnx(db: Database, argv: Sequence[bytes]) -> Reply:
    """HSETNX key field value"""
    key, field = argv[1], argv[2]
    fields = writable(db, key)
    if field in fields:
        return 0
    set_field(db, fields, field, argv[3])
    db.modified(key)
    return 1


def hdel(db: Database, argv: Sequence[bytes]) -> Reply:
    """HDEL key field [field ...]"""
    key = argv[1]
    fields = db.lookup_typed(key, dict)
    if fields is None:
        return 0
    deleted = 0
    for field in argv[2:]:
        value = fields.pop(field, None)
        if value is not None:
            db.used_memory -= FIELD_OVERHEAD + len(field) + len(value)
            deleted += 1
    if deleted:
        db.modified(key)
        db.delete_if_empty(key, fields)
    return deleted


def hincrby(db: Database, argv: Sequence[bytes]) -> Reply:
    """HINCRBY key field increment"""
    increment = parse_int(argv[3])
    key, field = argv[1], argv[2]
    fields = writable(db, key)
    old = fields.get(field)
    current = 0 if old is None else parse_int(old, errors.HASH_NOT_INTEGER)
    value = current + increment
    if not INT64_MIN <= value <= INT64_MAX:
        raise CommandError(errors.OVERFLOW)
    set_field(db, fields, field, b"%d" % value)
    db.modified(key)
    return value


def hincrbyfloat(db: Database, argv: Sequence[bytes]) -> Reply:
    """HINCRBYFLOAT key field increment"""
    increment = parse_long_double(argv[3], errors.NOT_FLOAT)
    if increment is None:
        raise CommandError(errors.VALUE_NAN_OR_INFINITY)
    key, field = argv[1], argv[2]
    fields = writable(db, key)
    old = fields.get(field)
    current = longdouble.ZERO if old is None else parse_long_double(old, errors.HASH_NOT_FLOAT)
    total = None if current is None else longdouble.add(current, increment)
    if total is None:
        raise CommandError(errors.NAN_OR_INFINITY)
    text = longdouble.to_text(total)
    set_field(db, fields, field, text)
    db.modified(key)
    return text


def parse_long_double(raw: bytes, message: str) -> longdouble.Finite | None:
    """strtold as Redis's string2ld reads it; None is infinity."""
    try:
        return longdouble.parse(raw)
    except ValueError:
        raise CommandError(message) from None


# -- reads ----------------------------------------------------------------------


def hget(db: Database, argv: Sequence[bytes]) -> Reply:
    """HGET key field"""
    fields = db.lookup_read_typed(argv[1], dict)
    return None if fields is None else fields.get(argv[2])


def hmget(db: Database, argv: Sequence[bytes]) -> Reply:
    """HMGET key field [field ...]"""
    fields = db.lookup_read_typed(argv[1], dict)
    if fields is None:
        return [None] * (len(argv) - 2)
    get = fields.get
    return [get(field) for field in argv[2:]]


def hexists(db: Database, argv: Sequence[bytes]) -> Reply:
    """HEXISTS key field"""
    fields = db.lookup_read_typed(argv[1], dict)
    return 1 if fields is not None and argv[2] in fields else 0


def hlen(db: Database, argv: Sequence[bytes]) -> Reply:
    """HLEN key"""
    fields = db.lookup_read_typed(argv[1], dict)
    return 0 if fields is None else len(fields)


def hstrlen(db: Database, argv: Sequence[bytes]) -> Reply:
    """HSTRLEN key field"""
    fields = db.lookup_read_typed(argv[1], dict)
    if fields is None:
        return 0
    value = fields.get(argv[2])
    return 0 if value is None else len(value)


def hgetall(db: Database, argv: Sequence[bytes]) -> Reply:
    """HGETALL key"""
    fields = db.lookup_read_typed(argv[1], dict)
    return {} if fields is None else fields.copy()


def hkeys(db: Database, argv: Sequence[bytes]) -> Reply:
    """HKEYS key"""
    fields = db.lookup_read_typed(argv[1], dict)
    return [] if fields is None else list(fields)


def hvals(db: Database, argv: Sequence[bytes]) -> Reply:
    """HVALS key"""
    fields = db.lookup_read_typed(argv[1], dict)
    return [] if fields is None else list(fields.values())


# -- random fields and iteration --------------------------------------------------


def hrandfield(db: Database, argv: Sequence[bytes]) -> Reply:
    """HRANDFIELD key [count [WITHVALUES]]"""
    if len(argv) >= 3:
        count = parse_range(argv[2], -INT64_MAX, INT64_MAX)
        if len(argv) > 4 or (len(argv) == 4 and argv[3].upper() != b"WITHVALUES"):
            raise CommandError(errors.SYNTAX)
        with_values = len(argv) == 4
        if with_values and not -WITHVALUES_COUNT_MAX <= count <= WITHVALUES_COUNT_MAX:
            raise CommandError(errors.VALUE_OUT_OF_RANGE)
        return hrandfield_count(db, argv[1], count, with_values=with_values)
    fields = db.lookup_read_typed(argv[1], dict)
    return None if fields is None else db.sampler.one(fields)


def hrandfield_count(db: Database, key: bytes, count: int, *, with_values: bool) -> Reply:
    """HRANDFIELD with a count: distinct if positive, with repeats if negative."""
    fields = db.lookup_read_typed(key, dict)
    if fields is None or count == 0:
        return []
    if count < 0:
        picked = db.sampler.repeats(fields, -count)
    elif count >= len(fields):
        picked = list(fields)
    else:
        picked = db.sampler.distinct(fields, count)
    if with_values:
        return Pairs([[field, fields[field]] for field in picked])
    return picked


def hscan(db: Database, argv: Sequence[bytes]) -> Reply:
    """HSCAN key cursor [MATCH pattern] [COUNT count]"""
    cursor = parse_cursor(argv[2])
    fields = db.lookup_read_typed(argv[1], dict)
    if fields is None:
        return [b"0", []]
    options = parse_options(argv, 3, allow_type=False)
    if len(fields) <= WHOLE_REPLY_MAX_ELEMENTS:
        next_cursor, batch = 0, list(fields)
    else:
        next_cursor, batch = db.cursors.step(cursor, fields.keys, options.count)
    pattern = options.pattern
    flat: list[bytes] = []
    for field in batch:
        value = fields.get(field)
        if value is not None and (pattern is None or glob_match(pattern, field)):
            flat += (field, value)
    return [b"%d" % next_cursor, flat]


COMMANDS = (
    command("hset", -4, "write denyoom fast", ONE_KEY, hset),
    command("hsetnx", 4, "write denyoom fast", ONE_KEY, hsetnx),
    command("hmset", -4, "write denyoom fast", ONE_KEY, hmset),
    command("hdel", -3, "write fast", ONE_KEY, hdel),
    command("hincrby", 4, "write denyoom fast", ONE_KEY, hincrby),
    command("hincrbyfloat", 4, "write denyoom fast", ONE_KEY, hincrbyfloat),
    command("hget", 3, "readonly fast", ONE_KEY, hget),
    command("hmget", -3, "readonly fast", ONE_KEY, hmget),
    command("hexists", 3, "readonly fast", ONE_KEY, hexists),
    command("hlen", 2, "readonly fast", ONE_KEY, hlen),
    command("hstrlen", 3, "readonly fast", ONE_KEY, hstrlen),
    command("hgetall", 2, "readonly", ONE_KEY, hgetall),
    command("hkeys", 2, "readonly", ONE_KEY, hkeys),
    command("hvals", 2, "readonly", ONE_KEY, hvals),
    command("hrandfield", -2, "readonly", ONE_KEY, hrandfield),
    command("hscan", -3, "readonly", ONE_KEY, hscan),
)
