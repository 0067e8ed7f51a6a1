"""Random picks: set members, hash fields and keys (SPOP, HRANDFIELD, RANDOMKEY...).

Redis picks a random hash-table bucket in O(1); a Python set or dict cannot
pick a random entry without walking it. Rules:

1. A collection of at most `COPY_MAX` members, or a request for a third of
   one or more, is copied to a list and sampled exactly: O(n), about what
   Redis pays to reply with that many members anyway.
2. A larger collection gets a pool, a snapshot of its members in a list. A
   pick takes a random slot and checks the member is still in the collection;
   a stale slot is dropped on sight (swap with the last, pop), so each costs
   O(1) once. SPOP takes its picks out of the pool the same way.
3. A read-only pick refreshes a pool smaller than its collection (members were
   added since the snapshot, or the pool lost too many stale slots), so every
   member stays reachable. SPOP refreshes a pool only when it runs dry: a
   drain loop stays O(1) per pop, and members added meanwhile join at the
   next refresh.
4. Pools are kept for the `MAX_POOLS` most recently sampled collections,
   keyed by `id()`. A pool that outlives its collection and meets a new one at
   the same id only wastes picks, because every pick is checked (rule 2).
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Collection

COPY_MAX = 1024  # members; copying this many to a list takes about 3 µs
MAX_POOLS = 8  # collections; each pool holds one reference per member


class Sampler:
    """Random picks from sets and hash fields, with the pools of rule 2."""

    def __init__(self) -> None:
        self._pools: OrderedDict[int, list[bytes]] = OrderedDict()

    def one(self, collection: Collection[bytes]) -> bytes:
        """One random member of a non-empty collection."""
        if len(collection) <= COPY_MAX:
            return random.choice(list(collection))
        return self._draw(collection, self._pool(collection))

    def distinct(self, collection: Collection[bytes], count: int) -> list[bytes]:
        """`count` distinct random members; the caller makes count < len."""
        size = len(collection)
        if size <= COPY_MAX or count * 3 > size:
            return random.sample(list(collection), count)
        pool = self._pool(collection)
        picked: dict[bytes, None] = {}
        while len(picked) < count:
            picked[self._draw(collection, pool)] = None
        return list(picked)

    def repeats(self, collection: Collection[bytes], count: int) -> list[bytes]:
        """`count` random members drawn with replacement from a non-empty collection."""
        size = len(collection)
        if size <= COPY_MAX or count * 3 > size:
            return random.choices(list(collection), k=count)
        pool = self._pool(collection)
        return [self._draw(collection, pool) for _ in range(count)]

    def pop(self, members: set[bytes], count: int) -> list[bytes]:
        """Remove and return `count` random members; the caller makes count < len."""
        size = len(members)
        if size <= COPY_MAX or count * 3 > size:
            picked = random.sample(list(members), count)
            members.difference_update(picked)
            return picked
        pool = self._pool(members)
        picked = []
        randrange = random.randrange
        while len(picked) < count:
            if not pool:
                pool.extend(members)
            index = randrange(len(pool))
            pool[index], pool[-1] = pool[-1], pool[index]
            member = pool.pop()
            if member in members:
                members.remove(member)
                picked.append(member)
        return picked

    def _pool(self, collection: Collection[bytes]) -> list[bytes]:
        key = id(collection)
        pool = self._pools.get(key)
        if pool is None:
            pool = list(collection)
            self._pools[key] = pool
            if len(self._pools) > MAX_POOLS:
                self._pools.popitem(last=False)
        else:
            self._pools.move_to_end(key)
        return pool

    def _draw(self, collection: Collection[bytes], pool: list[bytes]) -> bytes:
        """A read-only pick (rule 3): the pool keeps its members."""
        randrange = random.randrange
        while True:
            if len(pool) < len(collection):
                pool[:] = collection
            index = randrange(len(pool))
            member = pool[index]
            if member in collection:
                return member
            pool[index] = pool[-1]
            pool.pop()
