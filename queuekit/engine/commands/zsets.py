"""Sorted-set commands, including the blocking pops (Redis's t_zset.c).

A sorted set is a `ZSet` (see zset.py), whose methods keep its dict and its
sorted list in step and return the change in estimated bytes. Rules:

1. A sorted set is never empty: the handler that removes the last member
   deletes the key (`db.delete_if_empty`). A new one enters through
   `db.add`, which marks it ready for clients blocked on it.
2. Every member added or removed moves `db.used_memory` by what the ZSet
   method returned; a handler that changes a set calls `db.modified`.
3. Arguments are checked in Redis's order: range commands parse all their
   options and bounds before they look the key up, so a syntax error wins
   over WRONGTYPE, and a missing key still gets its bounds checked.
4. Ranges are spans of ranks [start, stop) found by bisection
   (`ZSet.score_span`, `ZSet.lex_span`, `rank_span` here), then read with
   one islice: no range command walks the set to find where it starts.
5. Reply shapes are Redis 7.0's in both protocols: a score is a float (a
   RESP3 double; "%.17g" in RESP2). Pairs that RESP3 nests and RESP2
   flattens (ZRANGE WITHSCORES, ZPOPMIN with a count, ZRANDMEMBER
   WITHSCORES) are `Pairs`; ZMPOP nests in both; ZPOPMIN without a count and
   BZPOPMIN are flat in both; ZSCAN sends scores as bulk strings.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from queuekit.engine import errors
from queuekit.engine.args import (
    INT64_MAX,
    index_span,
    parse_count,
    parse_double,
    parse_int,
    parse_range,
    parse_timeout_ms,
)
from queuekit.engine.command import NO_KEYS, ONE_KEY, command
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.glob import glob_match
from queuekit.engine.replies import NULL_ARRAY, Blocked, Pairs, Reply
from queuekit.engine.scan import WHOLE_REPLY_MAX_ELEMENTS, parse_cursor, parse_options
from queuekit.engine.zset import (
    COMPACT_MAX_ENTRIES,
    LexRange,
    ScoreRange,
    ZSet,
    parse_lex_range,
    parse_score_range,
    score_text,
)

SOURCE_AND_DESTINATION = (1, 2, 1)
KEYS_THEN_TIMEOUT = (1, -2, 1)
# ZMPOP/BZMPOP's keys follow numkeys; Redis reports (0, 0, 0) and finds them
# with a movablekeys callback.
KEYS_AFTER_NUMKEYS = NO_KEYS
# ZRANDMEMBER WITHSCORES refuses counts whose reply length would overflow.
WITHSCORES_COUNT_MAX = INT64_MAX // 2

Entries = list[tuple[float, bytes]]

# -- ZADD and ZINCRBY ----------------------------------------------------------

NX, XX, GT, LT, CH, INCR = 1, 2, 4, 8, 16, 32
ZADD_FLAGS = {b"NX": NX, b"XX": XX, b"GT": GT, b"LT": LT, b"CH": CH, b"INCR": INCR}
# What zsetAdd did with one member.
ADDED, UPDATED, UNCHANGED, SKIPPED = range(4)


def zadd(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]"""
    flags = 0
    first = 2
    while first < len(argv):
        flag = ZADD_FLAGS.get(argv[first].upper())
        if flag is None:
            break
        flags |= flag
        first += 1
    pairs = len(argv) - first
    if pairs % 2 or not pairs:
        raise CommandError(errors.SYNTAX)
    if flags & NX and flags & XX:
        raise CommandError(errors.ZADD_NX_XX)
    if (flags & NX and flags & (GT | LT)) or (flags & GT and flags & LT):
        raise CommandError(errors.ZADD_GT_LT_NX)
    if flags & INCR and pairs > 2:
        raise CommandError(errors.ZADD_INCR_PAIRS)
    scores = [parse_score(raw) for raw in argv[first::2]]
    return add_generic(db, argv[1], flags, scores, argv[first + 1 :: 2])


def parse_score(raw: bytes) -> float:
    """`parse_double` with a fast path for plain digits, the usual ZADD score."""
    if raw.isdigit() and len(raw) <= 15:
        return float(raw)
    return parse_double(raw)


def zincrby(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZINCRBY key increment member"""
    return add_generic(db, argv[1], INCR, [parse_score(argv[2])], argv[3:4])


def add_generic(
    db: Database, key: bytes, flags: int, scores: list[float], members: Sequence[bytes]
) -> Reply:
    """ZADD's body (Redis's zaddGenericCommand), the scores already parsed."""
    zs = db.lookup_typed(key, ZSet)
    if zs is None:
        if flags & XX:
            return None if flags & INCR else 0
        zs = ZSet.for_first_member(members[0])
        db.add(key, zs)
    added = updated = processed = 0
    score = 0.0
    for score, member in zip(scores, members, strict=True):
        outcome, score = add_one(db, zs, member, score, flags)
        if outcome == ADDED:
            added += 1
        elif outcome == UPDATED:
            updated += 1
        if outcome != SKIPPED:
            processed += 1
    if added or updated:
        db.modified(key)
    if flags & INCR:
        return score if processed else None
    return added + updated if flags & CH else added


def add_one(db: Database, zs: ZSet, member: bytes, score: float, flags: int) -> tuple[int, float]:
    """Redis's zsetAdd for one member: what happened, and the member's new score."""
    current = zs.scores.get(member)
    if current is None:
        if flags & XX:
            return SKIPPED, score
        db.used_memory += zs.add(member, score)
        return ADDED, score
    if flags & NX:
        return SKIPPED, score
    if flags & INCR:
        score += current
        if score != score:  # inf + -inf
            raise CommandError(errors.SCORE_NAN)
    if (flags & LT and score >= current) or (flags & GT and score <= current):
        return SKIPPED, score
    if score == current:
        return UNCHANGED, score
    zs.add(member, score)  # a move costs no bytes
    return UPDATED, score


# -- single members --------------------------------------------------------------


def zrem(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZREM key member [member ...]"""
    key = argv[1]
    zs = db.lookup_typed(key, ZSet)
    if zs is None:
        return 0
    removed = 0
    for member in argv[2:]:
        cost = zs.remove(member)
        if cost:
            db.used_memory += cost
            removed += 1
    if removed:
        db.modified(key)
        db.delete_if_empty(key, zs)
    return removed


def zscore(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZSCORE key member"""
    zs = db.lookup_read_typed(argv[1], ZSet)
    return None if zs is None else zs.scores.get(argv[2])


def zmscore(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZMSCORE key member [member ...]"""
    zs = db.lookup_read_typed(argv[1], ZSet)
    if zs is None:
        return [None] * (len(argv) - 2)
    scores = zs.scores
    return [scores.get(member) for member in argv[2:]]


def zcard(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZCARD key"""
    zs = db.lookup_read_typed(argv[1], ZSet)
    return 0 if zs is None else len(zs)


def rank_of(db: Database, argv: Sequence[bytes], *, reverse: bool) -> Reply:
    """ZRANK/ZREVRANK's body: an O(log N) bisection for the member's entry."""
    zs = db.lookup_read_typed(argv[1], ZSet)
    if zs is None:
        return None
    rank = zs.rank(argv[2])
    if rank is None or not reverse:
        return rank
    return len(zs) - 1 - rank


def zrank(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZRANK key member"""
    return rank_of(db, argv, reverse=False)


def zrevrank(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZREVRANK key member"""
    return rank_of(db, argv, reverse=True)


# -- counting --------------------------------------------------------------------


def zcount(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZCOUNT key min max"""
    spec = parse_score_range(argv[2], argv[3])
    zs = db.lookup_read_typed(argv[1], ZSet)
    if zs is None:
        return 0
    start, stop = zs.score_span(spec)
    return stop - start


def zlexcount(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZLEXCOUNT key min max"""
    spec = parse_lex_range(argv[2], argv[3])
    zs = db.lookup_read_typed(argv[1], ZSet)
    if zs is None:
        return 0
    start, stop = zs.lex_span(spec)
    return stop - start


# -- ranges ----------------------------------------------------------------------

Bounds = tuple[int, int] | ScoreRange | LexRange


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """A parsed ZRANGE: ranks (start, end), a score range or a lex range."""

    bounds: Bounds
    reverse: bool
    with_scores: bool
    offset: int
    limit: int


BY_RANK, BY_SCORE, BY_LEX = b"", b"BYSCORE", b"BYLEX"


def parse_range_query(
    argv: Sequence[bytes],
    key_at: int,
    *,
    store: bool = False,
    by: bytes | None = None,
    reverse: bool | None = None,
) -> RangeQuery:
    """Redis's zrangeGenericCommand steps 1 and 2: options, then the bounds.

    `by` and `reverse` are fixed by the legacy commands (ZRANGEBYSCORE...);
    left None, the options may set them once each.
    """
    with_scores = False
    offset, limit = 0, -1
    index = key_at + 3
    while index < len(argv):
        option = argv[index].upper()
        if option == b"WITHSCORES" and not store:
            with_scores = True
        elif option == b"LIMIT" and len(argv) - index > 2:
            offset, limit = parse_int(argv[index + 1]), parse_int(argv[index + 2])
            index += 2
        elif option == b"REV" and reverse is None:
            reverse = True
        elif option in (BY_SCORE, BY_LEX) and by is None:
            by = option
        else:
            raise CommandError(errors.SYNTAX)
        index += 1
    if by is None:
        by = BY_RANK
    if limit != -1 and by == BY_RANK:
        raise CommandError(errors.ZRANGE_LIMIT_BY_RANK)
    if with_scores and by == BY_LEX:
        raise CommandError(errors.ZRANGE_BYLEX_WITHSCORES)
    low, high = argv[key_at + 1], argv[key_at + 2]
    bounds: Bounds
    if by == BY_RANK:
        bounds = (parse_int(low), parse_int(high))
    elif reverse:  # the legacy order: max first
        bounds = parse_score_range(high, low) if by == BY_SCORE else parse_lex_range(high, low)
    else:
        bounds = parse_score_range(low, high) if by == BY_SCORE else parse_lex_range(low, high)
    return RangeQuery(bounds, bool(reverse), with_scores, offset, limit)


def rank_span(size: int, start: int, end: int, *, reverse: bool = False) -> tuple[int, int]:
    """Ranks [start, stop) for ZRANGE's inclusive, possibly negative indexes."""
    start, stop = index_span(size, start, end)
    if reverse and start != stop:
        return size - stop, size - start
    return start, stop


def range_entries(zs: ZSet, query: RangeQuery) -> Entries:
    """The entries a query selects, in reply order."""
    bounds, reverse = query.bounds, query.reverse
    if isinstance(bounds, ScoreRange):
        start, stop = zs.score_span(bounds, query.offset, query.limit, reverse=reverse)
    elif isinstance(bounds, LexRange):
        start, stop = zs.lex_span(bounds, query.offset, query.limit, reverse=reverse)
    else:
        start, stop = rank_span(len(zs), *bounds, reverse=reverse)
    return zs.entries(start, stop, reverse=reverse)


def read_range(db: Database, argv: Sequence[bytes], query: RangeQuery) -> Reply:
    """The range commands' shared body: look the key up once the query parsed."""
    zs = db.lookup_read_typed(argv[1], ZSet)
    if zs is None:
        return []
    entries = range_entries(zs, query)
    if query.with_scores:
        return Pairs([[member, score] for score, member in entries])
    return [member for _, member in entries]


def zrange(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]"""
    return read_range(db, argv, parse_range_query(argv, 1))


def zrevrange(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZREVRANGE key start stop [WITHSCORES]"""
    return read_range(db, argv, parse_range_query(argv, 1, by=BY_RANK, reverse=True))


def zrangebyscore(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]"""
    return read_range(db, argv, parse_range_query(argv, 1, by=BY_SCORE, reverse=False))


def zrevrangebyscore(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]"""
    return read_range(db, argv, parse_range_query(argv, 1, by=BY_SCORE, reverse=True))


def zrangebylex(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZRANGEBYLEX key min max [LIMIT offset count]"""
    return read_range(db, argv, parse_range_query(argv, 1, by=BY_LEX, reverse=False))


def zrevrangebylex(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZREVRANGEBYLEX key max min [LIMIT offset count]"""
    return read_range(db, argv, parse_range_query(argv, 1, by=BY_LEX, reverse=True))


def zrangestore(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]"""
    query = parse_range_query(argv, 2, store=True)
    source = db.lookup_read_typed(argv[2], ZSet)
    entries = [] if source is None else range_entries(source, query)
    if not entries:
        db.delete(argv[1])
        return 0
    # Redis sizes the destination from a rank range's known length; a score
    # or lex range starts compact and converts on the way.
    by_rank = isinstance(query.bounds, tuple)
    stored = ZSet(compact=not (by_rank and len(entries) > COMPACT_MAX_ENTRIES))
    for score, member in entries:
        stored.add(member, score)
    db.replace(argv[1], stored)
    return len(stored)


# -- removing ranges -------------------------------------------------------------


def remove_span(db: Database, key: bytes, zs: ZSet, span: tuple[int, int]) -> int:
    """The ZREMRANGEBY* family's shared tail: drop ranks [start, stop)."""
    removed, cost = zs.remove_ranks(*span)
    if removed:
        db.used_memory += cost
        db.modified(key)
        db.delete_if_empty(key, zs)
    return removed


def zremrangebyrank(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZREMRANGEBYRANK key start stop"""
    start, end = parse_int(argv[2]), parse_int(argv[3])
    zs = db.lookup_typed(argv[1], ZSet)
    if zs is None:
        return 0
    return remove_span(db, argv[1], zs, rank_span(len(zs), start, end))


def zremrangebyscore(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZREMRANGEBYSCORE key min max"""
    spec = parse_score_range(argv[2], argv[3])
    zs = db.lookup_typed(argv[1], ZSet)
    if zs is None:
        return 0
    return remove_span(db, argv[1], zs, zs.score_span(spec))


def zremrangebylex(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZREMRANGEBYLEX key min max"""
    spec = parse_lex_range(argv[2], argv[3])
    zs = db.lookup_typed(argv[1], ZSet)
    if zs is None:
        return 0
    return remove_span(db, argv[1], zs, zs.lex_span(spec))


# -- pops ------------------------------------------------------------------------


def pop_entries(db: Database, key: bytes, zs: ZSet, count: int, *, highest: bool) -> Entries:
    """Pop up to `count` entries from one end of the non-empty set at `key`."""
    popped, cost = zs.pop(count, highest=highest)
    db.used_memory += cost
    db.modified(key)
    db.delete_if_empty(key, zs)
    return popped


def pop_generic(db: Database, argv: Sequence[bytes], *, highest: bool) -> Reply:
    """ZPOPMIN/ZPOPMAX's body: flat [member, score] alone, `Pairs` with a count."""
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    count = parse_count(argv[2]) if len(argv) == 3 else None
    key = argv[1]
    zs = db.lookup_typed(key, ZSet)
    if zs is None or count == 0:
        return []
    popped = pop_entries(db, key, zs, count or 1, highest=highest)
    if count is None:
        score, member = popped[0]
        return [member, score]
    return Pairs([[member, score] for score, member in popped])


def zpopmin(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZPOPMIN key [count]"""
    return pop_generic(db, argv, highest=False)


def zpopmax(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZPOPMAX key [count]"""
    return pop_generic(db, argv, highest=True)


def parse_mpop(argv: Sequence[bytes], numkeys_at: int) -> tuple[Sequence[bytes], bool, int]:
    """numkeys key [key ...] MIN|MAX [COUNT count] -> (keys, highest, count)."""
    numkeys = parse_int(argv[numkeys_at], errors.NUMKEYS_NOT_POSITIVE)
    if numkeys < 1:
        raise CommandError(errors.NUMKEYS_NOT_POSITIVE)
    where_at = numkeys_at + 1 + numkeys
    if where_at >= len(argv):
        raise CommandError(errors.SYNTAX)
    where = argv[where_at].upper()
    if where != b"MIN" and where != b"MAX":
        raise CommandError(errors.SYNTAX)
    count = 0
    index = where_at + 1
    while index < len(argv):
        if count or argv[index].upper() != b"COUNT" or index + 1 == len(argv):
            raise CommandError(errors.SYNTAX)
        count = parse_int(argv[index + 1], errors.COUNT_NOT_POSITIVE)
        if count < 1:
            raise CommandError(errors.COUNT_NOT_POSITIVE)
        index += 2
    return argv[numkeys_at + 1 : where_at], where == b"MAX", count or 1


def mpop(db: Database, keys: Sequence[bytes], count: int, *, highest: bool) -> Reply:
    """ZMPOP's body: [key, [[member, score], ...]] from the first non-empty key, or None."""
    for key in keys:
        zs = db.lookup_typed(key, ZSet)
        if zs is not None:
            popped = pop_entries(db, key, zs, count, highest=highest)
            return [key, [[member, score] for score, member in popped]]
    return None


def zmpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]"""
    keys, highest, count = parse_mpop(argv, 1)
    reply = mpop(db, keys, count, highest=highest)
    return NULL_ARRAY if reply is None else reply


def blocking_pop(db: Database, argv: Sequence[bytes], *, highest: bool) -> Reply:
    """BZPOPMIN/BZPOPMAX's body: [key, member, score] from the first non-empty key."""
    deadline = parse_timeout_ms(argv[-1], db.clock.now_ms())
    keys = argv[1:-1]
    for key in keys:
        zs = db.lookup_typed(key, ZSet)
        if zs is not None:
            ((score, member),) = pop_entries(db, key, zs, 1, highest=highest)
            return [key, member, score]
    return Blocked(argv, keys, deadline, NULL_ARRAY)


def bzpopmin(db: Database, argv: Sequence[bytes]) -> Reply:
    """BZPOPMIN key [key ...] timeout"""
    return blocking_pop(db, argv, highest=False)


def bzpopmax(db: Database, argv: Sequence[bytes]) -> Reply:
    """BZPOPMAX key [key ...] timeout"""
    return blocking_pop(db, argv, highest=True)


def bzmpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]"""
    keys, highest, count = parse_mpop(argv, 2)
    deadline = parse_timeout_ms(argv[1], db.clock.now_ms())
    reply = mpop(db, keys, count, highest=highest)
    return Blocked(argv, keys, deadline, NULL_ARRAY) if reply is None else reply


# -- random members and iteration --------------------------------------------------


def zrandmember(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZRANDMEMBER key [count [WITHSCORES]]"""
    if len(argv) >= 3:
        count = parse_range(argv[2], -INT64_MAX, INT64_MAX)
        if len(argv) > 4 or (len(argv) == 4 and argv[3].upper() != b"WITHSCORES"):
            raise CommandError(errors.SYNTAX)
        with_scores = len(argv) == 4
        if with_scores and not -WITHSCORES_COUNT_MAX <= count <= WITHSCORES_COUNT_MAX:
            raise CommandError(errors.VALUE_OUT_OF_RANGE)
        return random_entries(db, argv[1], count, with_scores=with_scores)
    zs = db.lookup_read_typed(argv[1], ZSet)
    return None if zs is None else zs.entry(random.randrange(len(zs)))[1]


def random_entries(db: Database, key: bytes, count: int, *, with_scores: bool) -> Reply:
    """ZRANDMEMBER with a count: distinct if positive, with repeats if negative.

    Each pick is a random rank, O(log N); asking for the whole set or more
    returns it from the highest score down, as Redis 7.0 does.
    """
    zs = db.lookup_read_typed(key, ZSet)
    if zs is None or count == 0:
        return []
    size = len(zs)
    if count < 0:
        entries = [zs.entry(rank) for rank in random.choices(range(size), k=-count)]
    elif count >= size:
        entries = zs.entries(0, size, reverse=True)
    else:
        entries = [zs.entry(rank) for rank in random.sample(range(size), count)]
    if with_scores:
        return Pairs([[member, score] for score, member in entries])
    return [member for _, member in entries]


def zscan(db: Database, argv: Sequence[bytes]) -> Reply:
    """ZSCAN key cursor [MATCH pattern] [COUNT count]"""
    cursor = parse_cursor(argv[2])
    zs = db.lookup_read_typed(argv[1], ZSet)
    if zs is None:
        return [b"0", []]
    options = parse_options(argv, 3, allow_type=False)
    scores = zs.scores
    if len(zs) <= WHOLE_REPLY_MAX_ELEMENTS:  # a listpack: whole, in order
        next_cursor, batch = 0, [member for _, member in zs]
    else:
        next_cursor, batch = db.cursors.step(cursor, scores.keys, options.count)
    pattern = options.pattern
    compact = zs.compact
    flat: list[bytes] = []
    for member in batch:
        score = scores.get(member)
        if score is not None and (pattern is None or glob_match(pattern, member)):
            flat += (member, score_text(score, compact=compact))
    return [b"%d" % next_cursor, flat]


# Arity, flags and key positions as Redis 7.0's COMMAND INFO reports them.
COMMANDS = (
    command("zadd", -4, "write denyoom fast", ONE_KEY, zadd),
    command("zincrby", 4, "write denyoom fast", ONE_KEY, zincrby),
    command("zrem", -3, "write fast", ONE_KEY, zrem),
    command("zscore", 3, "readonly fast", ONE_KEY, zscore),
    command("zmscore", -3, "readonly fast", ONE_KEY, zmscore),
    command("zcard", 2, "readonly fast", ONE_KEY, zcard),
    command("zcount", 4, "readonly fast", ONE_KEY, zcount),
    command("zlexcount", 4, "readonly fast", ONE_KEY, zlexcount),
    command("zrank", 3, "readonly fast", ONE_KEY, zrank),
    command("zrevrank", 3, "readonly fast", ONE_KEY, zrevrank),
    command("zrange", -4, "readonly", ONE_KEY, zrange),
    command("zrevrange", -4, "readonly", ONE_KEY, zrevrange),
    command("zrangebyscore", -4, "readonly", ONE_KEY, zrangebyscore),
    command("zrevrangebyscore", -4, "readonly", ONE_KEY, zrevrangebyscore),
    command("zrangebylex", -4, "readonly", ONE_KEY, zrangebylex),
    command("zrevrangebylex", -4, "readonly", ONE_KEY, zrevrangebylex),
    command("zrangestore", -5, "write denyoom", SOURCE_AND_DESTINATION, zrangestore),
    command("zremrangebyrank", 4, "write", ONE_KEY, zremrangebyrank),
    command("zremrangebyscore", 4, "write", ONE_KEY, zremrangebyscore),
    command("zremrangebylex", 4, "write", ONE_KEY, zremrangebylex),
    command("zpopmin", -2, "write fast", ONE_KEY, zpopmin),
    command("zpopmax", -2, "write fast", ONE_KEY, zpopmax),
    command("zmpop", -4, "write", KEYS_AFTER_NUMKEYS, zmpop),
    command("bzpopmin", -3, "write noscript blocking fast", KEYS_THEN_TIMEOUT, bzpopmin),
    command("bzpopmax", -3, "write noscript blocking fast", KEYS_THEN_TIMEOUT, bzpopmax),
    command("bzmpop", -5, "write blocking", KEYS_AFTER_NUMKEYS, bzmpop),
    command("zrandmember", -2, "readonly", ONE_KEY, zrandmember),
    command("zscan", -3, "readonly", ONE_KEY, zscan),
)
