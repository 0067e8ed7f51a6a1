"""An estimate of the bytes the dataset holds, kept up to date as it changes.

Redis asks its allocator; a Python store cannot, so it prices each object the
way CPython lays it out on a 64-bit build (a bytes object is a 33-byte header
plus its payload; a deque spends 8 bytes a slot; dict and set slots cost
about what their tables do at their usual load). The estimate drives
`maxmemory` and INFO memory; it is checked against real RSS growth in tests.

Each cost function prices one part of a value, and `value_cost` sums the
same parts, so what a handler adds element by element equals what a delete
subtracts in one walk, and the total never drifts.
"""

from __future__ import annotations

from collections import deque
from typing import Any

BYTES_HEADER = 33  # sys.getsizeof(b"")
INT_OBJECT = 32  # a small int, rounded to pymalloc's 16-byte size class
DICT_SLOT = 64  # entry (hash, key, value) + index, at a typical 2/3 load
SET_SLOT = 40  # entry (hash, key) at a typical 3/5 load
DEQUE_SLOT = 8  # one pointer in a 64-slot block
ZSET_ENTRY = DICT_SLOT + 8 + 56 + 24  # member->score slot, sorted-list slot, tuple, float
CONTAINER = 600  # an empty deque, set, dict or zset with its first block


def bytes_cost(raw: bytes) -> int:
    return BYTES_HEADER + len(raw)


def key_cost(key: bytes) -> int:
    """The main table's slot plus the key object."""
    return DICT_SLOT + BYTES_HEADER + len(key)


def list_item_cost(item: bytes) -> int:
    return DEQUE_SLOT + BYTES_HEADER + len(item)


def set_member_cost(member: bytes) -> int:
    return SET_SLOT + BYTES_HEADER + len(member)


def hash_field_cost(field: bytes, value: bytes) -> int:
    return DICT_SLOT + 2 * BYTES_HEADER + len(field) + len(value)


def zset_member_cost(member: bytes) -> int:
    return ZSET_ENTRY + BYTES_HEADER + len(member)


def value_cost(value: Any) -> int:
    """The whole value, walked once; O(N) for aggregates, like freeing them."""
    kind = type(value)
    if kind is bytes:
        return BYTES_HEADER + len(value)
    if kind is int:
        return INT_OBJECT
    if kind is deque:
        return CONTAINER + len(value) * (DEQUE_SLOT + BYTES_HEADER) + sum(map(len, value))
    if kind is set:
        return CONTAINER + len(value) * (SET_SLOT + BYTES_HEADER) + sum(map(len, value))
    if kind is dict:
        fields = sum(map(len, value)) + sum(map(len, value.values()))
        return CONTAINER + len(value) * (DICT_SLOT + 2 * BYTES_HEADER) + fields
    # A sorted set (queuekit.engine.zset.ZSet) prices itself the same way.
    cost: int = value.members_cost()
    return CONTAINER + cost
