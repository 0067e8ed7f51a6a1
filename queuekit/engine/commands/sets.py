"""Set commands (Redis's t_set.c).

A set is a Python `set` of bytes. Rules:

1. A set is never empty: SREM, SPOP and SMOVE delete the key they empty, and
   a store command whose result is empty deletes its destination.
2. Store commands compute the result before writing, so the destination may
   be one of the sources; they overwrite a destination of any type and drop
   its TTL (Redis's setKey).
3. Multi-key commands look every key up before answering, so a WRONGTYPE key
   anywhere in the list is an error even after a missing key.
4. Reads count keyspace hits and misses (Redis's lookupKeyRead); writes and
   the sources of store commands do not (lookupKeyWrite).
5. In RESP3 Redis 7.0 answers SMEMBERS, SINTER, SUNION, SDIFF and SPOP with
   a count with a set ('~'), SRANDMEMBER with a count with an array: the
   handlers return a Python set or a list accordingly.
6. SSCAN returns a set of at most WHOLE_REPLY_MAX_ELEMENTS members whole,
   with cursor 0, as Redis does for its compact encodings. (Redis 7.0 keeps
   only all-integer sets compact, up to 512; a small set of strings is a hash
   table there, which COUNT may split over calls.)
"""

from __future__ import annotations

from collections.abc import Sequence

from queuekit.engine import errors
from queuekit.engine.args import INT64_MAX, parse_count, parse_int, parse_range
from queuekit.engine.command import ONE_KEY, command
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.memory import BYTES_HEADER, SET_SLOT
from queuekit.engine.replies import Reply
from queuekit.engine.scan import (
    WHOLE_REPLY_MAX_ELEMENTS,
    filter_pattern,
    parse_cursor,
    parse_options,
)

# set_member_cost minus the payload, for pricing members in bulk.
MEMBER_OVERHEAD = SET_SLOT + BYTES_HEADER


# -- members ------------------------------------------------------------------


def sadd(db: Database, argv: Sequence[bytes]) -> Reply:
    """SADD key member [member ...]"""
    key = argv[1]
    members = db.lookup_typed(key, set)
    if members is None:
        members = set(argv[2:])
        db.add(key, members)
        return len(members)
    before = len(members)
    if len(argv) == 3:
        member = argv[2]
        members.add(member)
        if len(members) == before:
            return 0
        db.used_memory += MEMBER_OVERHEAD + len(member)
    else:
        for member in argv[2:]:
            if member not in members:
                members.add(member)
                db.used_memory += MEMBER_OVERHEAD + len(member)
    added = len(members) - before
    if added:
        db.modified(key)
    return added


def srem(db: Database, argv: Sequence[bytes]) -> Reply:
    """SREM key member [member ...]"""
    key = argv[1]
    members = db.lookup_typed(key, set)
    if members is None:
        return 0
    removed = 0
    for member in argv[2:]:
        if member in members:
            members.remove(member)
            db.used_memory -= MEMBER_OVERHEAD + len(member)
            removed += 1
    if removed:
        db.modified(key)
        db.delete_if_empty(key, members)
    return removed


def smove(db: Database, argv: Sequence[bytes]) -> Reply:
    """SMOVE source destination member"""
    src_key, dst_key, member = argv[1], argv[2], argv[3]
    src = db.lookup(src_key)
    dst = db.lookup(dst_key)
    if src is None:
        return 0
    if type(src) is not set or (dst is not None and type(dst) is not set):
        raise CommandError(errors.WRONGTYPE)
    if src is dst:
        return int(member in src)
    if member not in src:
        return 0
    src.remove(member)
    db.used_memory -= MEMBER_OVERHEAD + len(member)
    db.modified(src_key)
    db.delete_if_empty(src_key, src)
    if dst is None:
        db.add(dst_key, {member})
    elif member not in dst:
        dst.add(member)
        db.used_memory += MEMBER_OVERHEAD + len(member)
        db.modified(dst_key)
    return 1


def sismember(db: Database, argv: Sequence[bytes]) -> Reply:
    """SISMEMBER key member"""
    members = db.lookup_read_typed(argv[1], set)
    return 1 if members is not None and argv[2] in members else 0


def smismember(db: Database, argv: Sequence[bytes]) -> Reply:
    """SMISMEMBER key member [member ...]"""
    members = db.lookup_read_typed(argv[1], set)
    if members is None:
        return [0] * (len(argv) - 2)
    return [1 if member in members else 0 for member in argv[2:]]


def scard(db: Database, argv: Sequence[bytes]) -> Reply:
    """SCARD key"""
    members = db.lookup_read_typed(argv[1], set)
    return 0 if members is None else len(members)


def smembers(db: Database, argv: Sequence[bytes]) -> Reply:
    """SMEMBERS key"""
    members = db.lookup_read_typed(argv[1], set)
    return set() if members is None else members.copy()


# -- random members -------------------------------------------------------------


def spop(db: Database, argv: Sequence[bytes]) -> Reply:
    """SPOP key [count]"""
    if len(argv) == 3:
        return spop_count(db, argv[1], parse_count(argv[2]))
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    key = argv[1]
    members = db.lookup_typed(key, set)
    if members is None:
        return None
    if len(members) == 1:
        member: bytes = members.pop()
    else:
        member = db.sampler.pop(members, 1)[0]
    db.used_memory -= MEMBER_OVERHEAD + len(member)
    db.modified(key)
    db.delete_if_empty(key, members)
    return member


def spop_count(db: Database, key: bytes, count: int) -> Reply:
    """SPOP with a count: distinct members; all of them (and the key) if count >= size."""
    members = db.lookup_typed(key, set)
    if members is None or count == 0:
        return set()
    if count >= len(members):
        db.delete(key)
        return members
    popped = db.sampler.pop(members, count)
    db.used_memory -= len(popped) * MEMBER_OVERHEAD + sum(map(len, popped))
    db.modified(key)
    return set(popped)


def srandmember(db: Database, argv: Sequence[bytes]) -> Reply:
    """SRANDMEMBER key [count]"""
    if len(argv) == 3:
        return srandmember_count(db, argv[1], parse_range(argv[2], -INT64_MAX, INT64_MAX))
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    members = db.lookup_read_typed(argv[1], set)
    if members is None:
        return None
    return db.sampler.one(members)


def srandmember_count(db: Database, key: bytes, count: int) -> Reply:
    """SRANDMEMBER with a count: distinct if positive, with repeats if negative."""
    members = db.lookup_read_typed(key, set)
    if members is None or count == 0:
        return []
    if count < 0:
        return db.sampler.repeats(members, -count)
    if count >= len(members):
        return list(members)
    return db.sampler.distinct(members, count)


# -- algebra --------------------------------------------------------------------


def sources(db: Database, keys: Sequence[bytes], *, read: bool) -> list[set[bytes] | None]:
    """Every key's set (None if missing), all type-checked before any answer (rule 3)."""
    lookup = db.lookup_read_typed if read else db.lookup_typed
    return [lookup(key, set) for key in keys]


def present_smallest_first(sets: list[set[bytes] | None]) -> list[set[bytes]]:
    """The sets by size for an intersection; [] if any is missing (so it is empty)."""
    present = [members for members in sets if members is not None]
    if len(present) < len(sets):
        return []
    present.sort(key=len)
    return present


def inter(sets: list[set[bytes] | None]) -> set[bytes]:
    ordered = present_smallest_first(sets)
    return ordered[0].intersection(*ordered[1:]) if ordered else set()


def union(sets: list[set[bytes] | None]) -> set[bytes]:
    return set().union(*[members for members in sets if members is not None])


def diff(sets: list[set[bytes] | None]) -> set[bytes]:
    first = sets[0]
    if first is None:
        return set()
    return first.difference(*[members for members in sets[1:] if members is not None])


def store(db: Database, key: bytes, result: set[bytes]) -> int:
    """The store commands' last step (rule 2): overwrite, or delete if empty."""
    if not result:
        db.delete(key)
        return 0
    db.replace(key, result)
    return len(result)


def sinter(db: Database, argv: Sequence[bytes]) -> Reply:
    """SINTER key [key ...]"""
    return inter(sources(db, argv[1:], read=True))


def sunion(db: Database, argv: Sequence[bytes]) -> Reply:
    """SUNION key [key ...]"""
    return union(sources(db, argv[1:], read=True))


def sdiff(db: Database, argv: Sequence[bytes]) -> Reply:
    """SDIFF key [key ...]"""
    return diff(sources(db, argv[1:], read=True))


def sinterstore(db: Database, argv: Sequence[bytes]) -> Reply:
    """SINTERSTORE destination key [key ...]"""
    return store(db, argv[1], inter(sources(db, argv[2:], read=False)))


def sunionstore(db: Database, argv: Sequence[bytes]) -> Reply:
    """SUNIONSTORE destination key [key ...]"""
    return store(db, argv[1], union(sources(db, argv[2:], read=False)))


def sdiffstore(db: Database, argv: Sequence[bytes]) -> Reply:
    """SDIFFSTORE destination key [key ...]"""
    return store(db, argv[1], diff(sources(db, argv[2:], read=False)))


def sintercard(db: Database, argv: Sequence[bytes]) -> Reply:
    """SINTERCARD numkeys key [key ...] [LIMIT limit]"""
    numkeys = parse_int(argv[1], errors.NUMKEYS_NOT_POSITIVE)
    if numkeys < 1:
        raise CommandError(errors.NUMKEYS_NOT_POSITIVE)
    if numkeys > len(argv) - 2:
        raise CommandError(errors.NUMKEYS_OVER_ARGS)
    limit = parse_limit(argv, 2 + numkeys)
    ordered = present_smallest_first(sources(db, argv[2 : 2 + numkeys], read=True))
    if not ordered:
        return 0
    smallest, others = ordered[0], ordered[1:]
    if not limit:
        return len(smallest.intersection(*others))
    count = 0
    for member in smallest:
        if all(member in members for members in others):
            count += 1
            if count == limit:
                break
    return count


def parse_limit(argv: Sequence[bytes], start: int) -> int:
    """SINTERCARD's options: LIMIT limit, repeatable, the last one wins; 0 is none."""
    limit = 0
    index = start
    while index < len(argv):
        if argv[index].upper() != b"LIMIT" or index + 1 >= len(argv):
            raise CommandError(errors.SYNTAX)
        limit = parse_int(argv[index + 1], errors.LIMIT_NEGATIVE)
        if limit < 0:
            raise CommandError(errors.LIMIT_NEGATIVE)
        index += 2
    return limit


# -- iteration ------------------------------------------------------------------


def sscan(db: Database, argv: Sequence[bytes]) -> Reply:
    """SSCAN key cursor [MATCH pattern] [COUNT count]"""
    cursor = parse_cursor(argv[2])
    members = db.lookup_read_typed(argv[1], set)
    if members is None:
        return [b"0", []]
    options = parse_options(argv, 3, allow_type=False)
    if len(members) <= WHOLE_REPLY_MAX_ELEMENTS:
        return [b"0", filter_pattern(members, options.pattern)]
    next_cursor, batch = db.cursors.step(cursor, lambda: members, options.count)
    present = [member for member in batch if member in members]
    return [b"%d" % next_cursor, filter_pattern(present, options.pattern)]


COMMANDS = (
    command("sadd", -3, "write denyoom fast", ONE_KEY, sadd),
    command("srem", -3, "write fast", ONE_KEY, srem),
    command("smove", 4, "write fast", (1, 2, 1), smove),
    command("sismember", 3, "readonly fast", ONE_KEY, sismember),
    command("smismember", -3, "readonly fast", ONE_KEY, smismember),
    command("scard", 2, "readonly fast", ONE_KEY, scard),
    command("smembers", 2, "readonly", ONE_KEY, smembers),
    command("spop", -2, "write fast", ONE_KEY, spop),
    command("srandmember", -2, "readonly", ONE_KEY, srandmember),
    command("sinter", -2, "readonly", (1, -1, 1), sinter),
    command("sunion", -2, "readonly", (1, -1, 1), sunion),
    command("sdiff", -2, "readonly", (1, -1, 1), sdiff),
    command("sinterstore", -3, "write denyoom", (1, -1, 1), sinterstore),
    command("sunionstore", -3, "write denyoom", (1, -1, 1), sunionstore),
    command("sdiffstore", -3, "write denyoom", (1, -1, 1), sdiffstore),
    # numkeys-based like Redis's movablekeys commands: no fixed key positions.
    command("sintercard", -3, "readonly", (0, 0, 0), sintercard),
    command("sscan", -3, "readonly", ONE_KEY, sscan),
)
