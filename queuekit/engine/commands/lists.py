"""List commands, including the blocking pops and moves (Redis's t_list.c).

A list is a `collections.deque` of bytes; the left end is the head (index 0),
as in Redis. Rules:

1. A list is never empty: the handler that removes the last element deletes
   the key (`db.delete_if_empty`). A new list enters through `db.add`, which
   marks it ready for clients blocked on it.
2. Arguments are checked in Redis's order, which differs by command (LRANGE
   parses its indexes before the lookup, LINDEX after it): the error a bad
   call gets is Redis's.
3. Every element added or removed moves `db.used_memory` by
   `memory.list_item_cost`, the price `memory.value_cost` gives it.
4. A blocking command that finds every key empty returns `Blocked`; the
   engine parks it and runs it again, narrowed to the key that got data,
   when a write makes that key ready. Inside MULTI it answers at once.

The push/pop family shares Redis's generic bodies: `push`
(pushGenericCommand), `pop_one`/`pop_count` (popGenericCommand), `move`
(lmoveGenericCommand), `blocking_pop` (blockingPopGenericCommand) and
`mpop` (mpopGenericCommand), so each handler is a line or two.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import islice

from queuekit.engine import errors
from queuekit.engine.args import (
    INT64_MIN,
    index_span,
    parse_count,
    parse_int,
    parse_timeout_ms,
)
from queuekit.engine.command import NO_KEYS, ONE_KEY, command
from queuekit.engine.db import Database
from queuekit.engine.errors import CommandError
from queuekit.engine.memory import BYTES_HEADER, DEQUE_SLOT, list_item_cost
from queuekit.engine.replies import NULL_ARRAY, OK, Blocked, Reply

# list_item_cost minus the payload, to price many elements in one sum.
ITEM_OVERHEAD = DEQUE_SLOT + BYTES_HEADER
SOURCE_AND_DESTINATION = (1, 2, 1)
KEYS_THEN_TIMEOUT = (1, -2, 1)
# LMPOP/BLMPOP's keys follow numkeys, which (first, last, step) cannot say;
# Redis reports (0, 0, 0) in these legacy fields too, and finds the keys
# with a movablekeys callback.
KEYS_AFTER_NUMKEYS = NO_KEYS


def parse_end(raw: bytes) -> bool:
    """LEFT or RIGHT, any case: True for the head (Redis's LIST_HEAD)."""
    end = raw.upper()
    if end == b"LEFT":
        return True
    if end == b"RIGHT":
        return False
    raise CommandError(errors.SYNTAX)


# -- push ------------------------------------------------------------------


def push(db: Database, argv: Sequence[bytes], *, left: bool, existing: bool = False) -> int:
    """LPUSH/RPUSH/LPUSHX/RPUSHX's shared body (Redis's pushGenericCommand)."""
    key = argv[1]
    items = db.lookup_typed(key, deque)
    if items is None:
        if existing:
            return 0
        items = deque()
        db.add(key, items)
    elif db.watchers:
        db.modified(key)
    else:  # modified()'s count, without the call
        db.changes += 1
    if len(argv) == 3:  # one element: the queue's common case, without slicing
        item = argv[2]
        if left:
            items.appendleft(item)
        else:
            items.append(item)
        db.used_memory += ITEM_OVERHEAD + len(item)
        return len(items)
    values = argv[2:]
    if left:
        items.extendleft(values)
    else:
        items.extend(values)
    db.used_memory += len(values) * ITEM_OVERHEAD + sum(map(len, values))
    return len(items)


def lpush(db: Database, argv: Sequence[bytes]) -> Reply:
    """LPUSH key element [element ...]"""
    return push(db, argv, left=True)


def rpush(db: Database, argv: Sequence[bytes]) -> Reply:
    """RPUSH key element [element ...]"""
    return push(db, argv, left=False)


def lpushx(db: Database, argv: Sequence[bytes]) -> Reply:
    """LPUSHX key element [element ...]"""
    return push(db, argv, left=True, existing=True)


def rpushx(db: Database, argv: Sequence[bytes]) -> Reply:
    """RPUSHX key element [element ...]"""
    return push(db, argv, left=False, existing=True)


# -- pop -------------------------------------------------------------------


def pop_one(db: Database, key: bytes, *, left: bool) -> bytes | None:
    """Pop one element from an end of the list at `key`, None if there is none."""
    items = db.lookup_typed(key, deque)
    if items is None:
        return None
    item: bytes = items.popleft() if left else items.pop()
    # list_item_cost, modified() and delete_if_empty() without their calls:
    # RPOP is the queue's fetch.
    db.used_memory -= ITEM_OVERHEAD + len(item)
    if db.watchers:
        db.modified(key)
    else:
        db.changes += 1
    if not items:
        db.delete_if_empty(key, items)
    return item


def pop_many(
    db: Database, key: bytes, items: deque[bytes], count: int, *, left: bool
) -> list[bytes]:
    """Pop up to `count` elements of a live list, in the order they leave it."""
    take = items.popleft if left else items.pop
    popped = [take() for _ in range(min(count, len(items)))]
    db.used_memory -= len(popped) * ITEM_OVERHEAD + sum(map(len, popped))
    db.modified(key)
    db.delete_if_empty(key, items)
    return popped


def pop_count(db: Database, argv: Sequence[bytes], *, left: bool) -> Reply:
    """LPOP/RPOP with a count (the rest of Redis's popGenericCommand): an array."""
    if len(argv) > 3:
        raise CommandError(errors.wrong_arity(argv[0]))
    count = parse_count(argv[2])
    items = db.lookup_typed(argv[1], deque)
    if items is None:
        return NULL_ARRAY
    if count == 0:
        return []
    return pop_many(db, argv[1], items, count, left=left)


def lpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """LPOP key [count]"""
    if len(argv) == 2:
        return pop_one(db, argv[1], left=True)
    return pop_count(db, argv, left=True)


def rpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """RPOP key [count]"""
    if len(argv) == 2:
        return pop_one(db, argv[1], left=False)
    return pop_count(db, argv, left=False)


def mpop(db: Database, keys: Sequence[bytes], count: int, *, left: bool) -> Reply:
    """Pop from the first non-empty list of `keys`: [key, [elements]], or None.

    Redis's mpopGenericCommand: keys are tried left to right, and one of the
    wrong type before any list with data is an error.
    """
    for key in keys:
        items = db.lookup_typed(key, deque)
        if items is not None:
            return [key, pop_many(db, key, items, count, left=left)]
    return None


def parse_mpop(argv: Sequence[bytes], numkeys_at: int) -> tuple[Sequence[bytes], bool, int]:
    """numkeys key [key ...] LEFT|RIGHT [COUNT count] -> (keys, left, count)."""
    numkeys = parse_int(argv[numkeys_at], errors.NUMKEYS_NOT_POSITIVE)
    if numkeys < 1:
        raise CommandError(errors.NUMKEYS_NOT_POSITIVE)
    where_at = numkeys_at + 1 + numkeys
    if where_at >= len(argv):
        raise CommandError(errors.SYNTAX)
    left = parse_end(argv[where_at])
    count = 0
    index = where_at + 1
    while index < len(argv):
        if count or argv[index].upper() != b"COUNT" or index + 1 == len(argv):
            raise CommandError(errors.SYNTAX)
        count = parse_int(argv[index + 1], errors.COUNT_NOT_POSITIVE)
        if count < 1:
            raise CommandError(errors.COUNT_NOT_POSITIVE)
        index += 2
    return argv[numkeys_at + 1 : where_at], left, count or 1


def lmpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]"""
    keys, left, count = parse_mpop(argv, 1)
    reply = mpop(db, keys, count, left=left)
    return NULL_ARRAY if reply is None else reply


# -- reads -----------------------------------------------------------------


def llen(db: Database, argv: Sequence[bytes]) -> Reply:
    """LLEN key"""
    items = db.lookup_read_typed(argv[1], deque)
    return 0 if items is None else len(items)


def list_range(items: deque[bytes], start: int, end: int) -> list[bytes]:
    """Elements start..end inclusive, negative indexes from the tail (addListRangeReply)."""
    size = len(items)
    start, stop = index_span(size, start, end)
    if start == stop:
        return []
    end = stop - 1
    if size - start < end:  # nearer the tail: walk from there, as Redis does
        part = list(islice(reversed(items), size - 1 - end, size - start))
        part.reverse()
        return part
    return list(islice(items, start, end + 1))


def lrange(db: Database, argv: Sequence[bytes]) -> Reply:
    """LRANGE key start stop"""
    start, end = parse_int(argv[2]), parse_int(argv[3])
    items = db.lookup_read_typed(argv[1], deque)
    return [] if items is None else list_range(items, start, end)


def lindex(db: Database, argv: Sequence[bytes]) -> Reply:
    """LINDEX key index"""
    items = db.lookup_read_typed(argv[1], deque)
    if items is None:
        return None
    index = parse_int(argv[2])
    if index < 0:
        index += len(items)
    return items[index] if 0 <= index < len(items) else None


def lpos(db: Database, argv: Sequence[bytes]) -> Reply:
    """LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]"""
    rank, count, maxlen = parse_lpos(argv)
    items = db.lookup_read_typed(argv[1], deque)
    if items is None:
        return None if count is None else []
    found = find(items, argv[2], rank, count, maxlen)
    if count is not None:
        return found
    return found[0] if found else None


def parse_lpos(argv: Sequence[bytes]) -> tuple[int, int | None, int]:
    """LPOS's options -> (rank, count or None when not given, maxlen)."""
    rank, count, maxlen = 1, None, 0
    for index in range(3, len(argv) - 1, 2):
        option, raw = argv[index].upper(), argv[index + 1]
        if option == b"RANK":
            rank = parse_int(raw)
            if rank == 0:
                raise CommandError(errors.LPOS_RANK_ZERO)
        elif option == b"COUNT":
            count = parse_count_option(raw, errors.LPOS_COUNT_NEGATIVE)
        elif option == b"MAXLEN":
            maxlen = parse_count_option(raw, errors.LPOS_MAXLEN_NEGATIVE)
        else:
            raise CommandError(errors.SYNTAX)
    if len(argv) % 2 == 0:  # an option without its value
        raise CommandError(errors.SYNTAX)
    return rank, count, maxlen


def parse_count_option(raw: bytes, message: str) -> int:
    """A non-negative option value; Redis answers `message` for any bad one."""
    value = parse_int(raw, message)
    if value < 0:
        raise CommandError(message)
    return value


def find(
    items: deque[bytes], element: bytes, rank: int, count: int | None, maxlen: int
) -> list[int]:
    """LPOS's search: indexes of matches from the `rank`-th on, at most `count` (0: all)."""
    from_tail = rank < 0
    if rank == INT64_MIN:
        # Redis 7.0 negates the rank in place, which leaves INT64_MIN negative:
        # every match qualifies and COUNT's stop test never passes.
        rank, count = 1, 0 if count is not None else None
    elif from_tail:
        rank = -rank
    size = len(items)
    walk = reversed(items) if from_tail else iter(items)
    if maxlen:
        walk = islice(walk, maxlen)
    found: list[int] = []
    matches = 0
    for index, item in enumerate(walk):
        if item == element:
            matches += 1
            if matches >= rank:
                found.append(size - 1 - index if from_tail else index)
                if count is None or (count and len(found) >= count):
                    break
    return found


# -- in-place writes -------------------------------------------------------


def lset(db: Database, argv: Sequence[bytes]) -> Reply:
    """LSET key index element"""
    key = argv[1]
    items = db.lookup_typed(key, deque)
    if items is None:
        raise CommandError(errors.NO_SUCH_KEY)
    index = parse_int(argv[2])
    if index < 0:
        index += len(items)
    if not 0 <= index < len(items):
        raise CommandError(errors.INDEX_OUT_OF_RANGE)
    element = argv[3]
    db.used_memory += len(element) - len(items[index])
    items[index] = element
    db.modified(key)
    return OK


def linsert(db: Database, argv: Sequence[bytes]) -> Reply:
    """LINSERT key BEFORE|AFTER pivot element"""
    where = argv[2].upper()
    if where != b"BEFORE" and where != b"AFTER":
        raise CommandError(errors.SYNTAX)
    key = argv[1]
    items = db.lookup_typed(key, deque)
    if items is None:
        return 0
    try:
        index = items.index(argv[3])
    except ValueError:
        return -1
    items.insert(index if where == b"BEFORE" else index + 1, argv[4])
    db.used_memory += list_item_cost(argv[4])
    db.modified(key)
    return len(items)


def lrem(db: Database, argv: Sequence[bytes]) -> Reply:
    """LREM key count element"""
    count = parse_int(argv[2])
    key = argv[1]
    items = db.lookup_typed(key, deque)
    if items is None:
        return 0
    element = argv[3]
    if count == 0:
        removed = remove_all(items, element)
    else:
        removed = remove_first(items, element, abs(count), from_tail=count < 0)
    if removed:
        db.used_memory -= removed * list_item_cost(element)
        db.modified(key)
        db.delete_if_empty(key, items)
    return removed


def remove_all(items: deque[bytes], element: bytes) -> int:
    """Remove every `element`; how many there were."""
    if element not in items:
        return 0
    kept = [item for item in items if item != element]
    removed = len(items) - len(kept)
    items.clear()
    items.extend(kept)
    return removed


def remove_first(items: deque[bytes], element: bytes, limit: int, *, from_tail: bool) -> int:
    """Remove the first `limit` `element`s from one end; how many were removed.

    Walks only as far as the last removal, then rebuilds that stretch: O(its
    length), where repeated `deque.remove` would be quadratic.
    """
    if limit == 1 and not from_tail:  # LREM key 1 x, the queue "ack": all in C
        try:
            items.remove(element)
        except ValueError:
            return 0
        return 1
    removed = walked = 0
    for item in reversed(items) if from_tail else items:
        walked += 1
        if item == element:
            removed += 1
            if removed == limit:
                break
    if removed:
        take = items.pop if from_tail else items.popleft
        kept = [item for item in [take() for _ in range(walked)] if item != element]
        if from_tail:
            items.extend(reversed(kept))
        else:
            items.extendleft(reversed(kept))
    return removed


def ltrim(db: Database, argv: Sequence[bytes]) -> Reply:
    """LTRIM key start stop"""
    start, end = parse_int(argv[2]), parse_int(argv[3])
    key = argv[1]
    items = db.lookup_typed(key, deque)
    if items is None:
        return OK
    size = len(items)
    start, stop = index_span(size, start, end)
    head, tail = (size, 0) if start == stop else (start, size - stop)
    db.used_memory -= trim(items, head, tail)
    db.modified(key)  # Redis signals even when nothing was cut
    db.delete_if_empty(key, items)
    return OK


def trim(items: deque[bytes], head: int, tail: int) -> int:
    """Cut `head` elements from the left and `tail` from the right; the bytes freed."""
    size = len(items)
    if head + tail <= size // 2:  # cutting little: pop what goes
        cut = [items.popleft() for _ in range(head)]
        cut += [items.pop() for _ in range(tail)]
        return len(cut) * ITEM_OVERHEAD + sum(map(len, cut))
    kept = list(islice(items, head, size - tail))  # keeping little: copy what stays
    freed = (size - len(kept)) * ITEM_OVERHEAD + sum(map(len, items)) - sum(map(len, kept))
    items.clear()
    items.extend(kept)
    return freed


# -- moves -----------------------------------------------------------------


def move(
    db: Database, source: bytes, destination: bytes, *, left_from: bool, left_to: bool
) -> Reply:
    """LMOVE's body (Redis's lmoveGenericCommand): the element moved, or None.

    The destination's type is checked before anything is popped. With
    source == destination the list rotates; a missing destination is
    created through `db.add`, which wakes clients blocked on it.
    """
    items = db.lookup_typed(source, deque)
    if items is None:
        return None
    target = items if destination == source else db.lookup_typed(destination, deque)
    item: bytes = items.popleft() if left_from else items.pop()
    if target is None:
        db.used_memory -= list_item_cost(item)  # db.add prices it again
        db.add(destination, deque((item,)))
    else:
        if left_to:
            target.appendleft(item)
        else:
            target.append(item)
        db.modified(destination)
    db.modified(source)
    db.delete_if_empty(source, items)
    return item


def lmove(db: Database, argv: Sequence[bytes]) -> Reply:
    """LMOVE source destination LEFT|RIGHT LEFT|RIGHT"""
    left_from, left_to = parse_end(argv[3]), parse_end(argv[4])
    return move(db, argv[1], argv[2], left_from=left_from, left_to=left_to)


def rpoplpush(db: Database, argv: Sequence[bytes]) -> Reply:
    """RPOPLPUSH source destination"""
    return move(db, argv[1], argv[2], left_from=False, left_to=True)


# -- blocking --------------------------------------------------------------


def blocking_pop(db: Database, argv: Sequence[bytes], *, left: bool) -> Reply:
    """BLPOP/BRPOP's body (Redis's blockingPopGenericCommand): the first non-empty key."""
    deadline = parse_timeout_ms(argv[-1], db.clock.now_ms())
    keys = argv[1:-1]
    for key in keys:
        item = pop_one(db, key, left=left)
        if item is not None:
            return [key, item]
    return Blocked(argv, keys, deadline, NULL_ARRAY)


def blpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """BLPOP key [key ...] timeout"""
    return blocking_pop(db, argv, left=True)


def brpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """BRPOP key [key ...] timeout"""
    return blocking_pop(db, argv, left=False)


def blocking_move(db: Database, argv: Sequence[bytes], *, left_from: bool, left_to: bool) -> Reply:
    """BLMOVE/BRPOPLPUSH's body: LMOVE, or wait on the source while it is empty.

    Redis 7.0 answers a null array on timeout but a plain null inside MULTI.
    """
    deadline = parse_timeout_ms(argv[-1], db.clock.now_ms())
    item = move(db, argv[1], argv[2], left_from=left_from, left_to=left_to)
    if item is None:
        return Blocked(argv, argv[1:2], deadline, NULL_ARRAY, multi_reply=None)
    return item


def blmove(db: Database, argv: Sequence[bytes]) -> Reply:
    """BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout"""
    left_from, left_to = parse_end(argv[3]), parse_end(argv[4])
    return blocking_move(db, argv, left_from=left_from, left_to=left_to)


def brpoplpush(db: Database, argv: Sequence[bytes]) -> Reply:
    """BRPOPLPUSH source destination timeout"""
    return blocking_move(db, argv, left_from=False, left_to=True)


def blmpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]"""
    keys, left, count = parse_mpop(argv, 2)
    deadline = parse_timeout_ms(argv[1], db.clock.now_ms())
    reply = mpop(db, keys, count, left=left)
    return Blocked(argv, keys, deadline, NULL_ARRAY) if reply is None else reply


# Arity, flags and key positions as Redis 7.0's COMMAND INFO reports them.
COMMANDS = (
    command("lpush", -3, "write denyoom fast", ONE_KEY, lpush),
    command("rpush", -3, "write denyoom fast", ONE_KEY, rpush),
    command("lpushx", -3, "write denyoom fast", ONE_KEY, lpushx),
    command("rpushx", -3, "write denyoom fast", ONE_KEY, rpushx),
    command("lpop", -2, "write fast", ONE_KEY, lpop),
    command("rpop", -2, "write fast", ONE_KEY, rpop),
    command("lmpop", -4, "write", KEYS_AFTER_NUMKEYS, lmpop),
    command("llen", 2, "readonly fast", ONE_KEY, llen),
    command("lrange", 4, "readonly", ONE_KEY, lrange),
    command("lindex", 3, "readonly", ONE_KEY, lindex),
    command("lpos", -3, "readonly", ONE_KEY, lpos),
    command("lset", 4, "write denyoom", ONE_KEY, lset),
    command("linsert", 5, "write denyoom", ONE_KEY, linsert),
    command("lrem", 4, "write", ONE_KEY, lrem),
    command("ltrim", 4, "write", ONE_KEY, ltrim),
    command("lmove", 5, "write denyoom", SOURCE_AND_DESTINATION, lmove),
    command("rpoplpush", 3, "write denyoom", SOURCE_AND_DESTINATION, rpoplpush),
    command("blpop", -3, "write noscript blocking", KEYS_THEN_TIMEOUT, blpop),
    command("brpop", -3, "write noscript blocking", KEYS_THEN_TIMEOUT, brpop),
    command("blmove", 6, "write denyoom noscript blocking", SOURCE_AND_DESTINATION, blmove),
    command("brpoplpush", 4, "write denyoom noscript blocking", SOURCE_AND_DESTINATION, brpoplpush),
    command("blmpop", -5, "write blocking", KEYS_AFTER_NUMKEYS, blmpop),
)
