"""List commands, including the blocking pops (Redis's t_list.c).

A list is a `collections.deque` of bytes; the left end is the head (index 0),
as in Redis. Rules: a list is never empty (the handler that pops the last
element deletes the key); a blocking pop that finds every key empty returns
`Blocked` and the engine parks it; keys are checked left to right.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from queuekit.engine.args import parse_timeout_ms
from queuekit.engine.command import command
from queuekit.engine.db import Database
from queuekit.engine.memory import DEQUE_SLOT, list_item_cost
from queuekit.engine.replies import NULL_ARRAY, Blocked, Reply

ITEM_OVERHEAD = DEQUE_SLOT + 33  # list_item_cost minus the payload, for bulk pricing


def push(db: Database, argv: Sequence[bytes], *, left: bool) -> int:
    """LPUSH/RPUSH's shared body (Redis's pushGenericCommand)."""
    key = argv[1]
    items = db.lookup_typed(key, deque)
    if items is None:
        items = deque()
        db.add(key, items)
    else:
        db.modified(key)
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


def pop_one(db: Database, key: bytes, *, left: bool) -> bytes | None:
    """Pop one element from an end of the list at `key`, None if there is none."""
    items = db.lookup_typed(key, deque)
    if items is None:
        return None
    item: bytes = items.popleft() if left else items.pop()
    db.used_memory -= list_item_cost(item)
    db.modified(key)
    db.delete_if_empty(key, items)
    return item


def lpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """LPOP key [count]"""
    return pop_one(db, argv[1], left=True)


def rpop(db: Database, argv: Sequence[bytes]) -> Reply:
    """RPOP key [count]"""
    return pop_one(db, argv[1], left=False)


def blocking_pop(db: Database, argv: Sequence[bytes], *, left: bool) -> Reply:
    """BLPOP/BRPOP's shared body: the first non-empty key, left to right."""
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


COMMANDS = (
    command("lpush", -3, "write denyoom fast", (1, 1, 1), lpush),
    command("rpush", -3, "write denyoom fast", (1, 1, 1), rpush),
    command("lpop", -2, "write fast", (1, 1, 1), lpop),
    command("rpop", -2, "write fast", (1, 1, 1), rpop),
    command("blpop", -3, "write noscript blocking", (1, -2, 1), blpop),
    command("brpop", -3, "write noscript blocking", (1, -2, 1), brpop),
)
