"""The keyspace: one dict of values, one dict of deadlines, and their rules.

Rules every handler relies on:

1. A key whose deadline has passed (now > deadline, as Redis's keyIsExpired
   has it) does not exist. `lookup` deletes it on the
   spot (lazy expiry), so no command ever sees it; `active_expire_cycle`
   reclaims keys that nobody reads, like Redis's activeExpireCycle.
2. Aggregates are never empty: a handler that empties a list, set, hash or
   sorted set deletes the key (`delete_if_empty`).
3. A handler that changes a key in place calls `modified(key)`, Redis's
   signalModifiedKey, which is what makes WATCH abort. `add`, `replace` and
   `delete` call it themselves.
4. `used_memory` moves with every change (see `memory`): `add`, `replace` and
   `delete` price whole values; a handler that grows or shrinks an aggregate
   in place adds the price of what it changed.

5. While `loading` (replaying an append-only file) nothing is expired: a
   replayed command must see what the original saw, as Redis's keyIsExpired
   returns early while loading; due deadlines are stored, not acted on.
6. A key removed by the keyspace itself, not by a command's own write (lazy
   or active expiry, eviction), is reported to `on_delete` when set, so the
   append-only file can log it as DEL and a replay agrees.
7. `changes` counts changes to the dataset, one per `modified` call and one
   per key FLUSHDB drops (Redis's `dirty`, which moves with
   signalModifiedKey): the snapshot save points read it. It costs a write
   one integer addition and a read nothing (callgrind: with the engine's
   `writes_refused` test, +0.3% of the instructions of a served command).

Values are stored bare, without a wrapper object: bytes or int (a string;
int is how INCR keeps a counter), deque (list), set, dict (hash) and ZSet.
Deadlines are absolute Unix times in milliseconds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from queuekit.engine import errors
from queuekit.engine.errors import CommandError
from queuekit.engine.memory import key_cost, value_cost
from queuekit.engine.sampling import Sampler
from queuekit.engine.scan import Cursors
from queuekit.engine.zset import ZSet

if TYPE_CHECKING:
    from queuekit.engine.clock import Clock
    from queuekit.engine.replies import Blocked
    from queuekit.engine.session import Session

# Redis's activeExpireCycle: look at this many keys with a TTL per round...
ACTIVE_EXPIRE_KEYS_PER_LOOP = 20
# ...and go on while more than this share of them had expired (1 in 4).
ACTIVE_EXPIRE_ACCEPTABLE_STALE = 0.25
# Eviction looks at this many keys and evicts the best candidate
# (Redis's maxmemory-samples default).
EVICTION_SAMPLES = 5
# ...and keeps this many of the best candidates between evictions (EVPOOL_SIZE).
EVICTION_POOL_SIZE = 16

TYPE_NAMES: dict[type, bytes] = {
    bytes: b"string",
    int: b"string",
    deque: b"list",
    set: b"set",
    dict: b"hash",
    ZSet: b"zset",
}

# Keys of these types can wake a blocked BLPOP/BZPOPMIN when they appear.
BLOCKABLE_TYPES = (deque, ZSet)


class Database:
    """One Redis database (db 0): the values, their TTLs, and their watchers."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        # WATCH: key -> sessions watching it.
        self.watchers: dict[bytes, set[Session]] = {}
        # Blocking pops: key -> blocked commands, first come first served,
        # and the keys that a write made worth serving (an ordered set).
        self.waiting: dict[bytes, deque[Blocked]] = {}
        self.ready: dict[bytes, None] = {}
        self.used_memory = 0
        self.expired_keys = 0
        self.evicted_keys = 0
        self.keyspace_hits = 0
        self.keyspace_misses = 0
        # Last-access tick per key; kept only under an LRU eviction policy.
        self.access: dict[bytes, int] | None = None
        self._tick = 0
        self._expiry_scan: list[bytes] = []
        self._expiry_pos = 0
        self._eviction_pool: list[bytes] = []
        # SCAN-family cursors and the snapshots they walk (see scan.py).
        self.cursors = Cursors()
        # Random picks: members (SPOP, SRANDMEMBER, HRANDFIELD) and keys
        # (RANDOMKEY, eviction samples).
        self.sampler = Sampler()
        # Rules 5 and 6: replaying an append-only file; keys the keyspace removed.
        self.loading = False
        self.on_delete: Callable[[bytes], None] | None = None
        self.changes = 0  # rule 7

    # -- lookups -----------------------------------------------------------

    def lookup(self, key: bytes) -> Any:
        """The live value of `key`, or None; expires it on the spot if due."""
        expires = self.expires
        if expires and key in expires and expires[key] < self.clock.now_ms() and not self.loading:
            self.expire_now(key)
            return None
        value = self.data.get(key)
        if self.access is not None and value is not None:
            self.touch(key)
        return value

    def touch(self, key: bytes) -> None:
        """Record an access of the existing `key` for LRU eviction.

        Only existing keys get a tick: misses must not grow `access` forever.
        """
        if self.access is not None:
            self._tick += 1
            self.access[key] = self._tick

    def lookup_read(self, key: bytes) -> Any:
        """`lookup` for a read command: counts a keyspace hit or miss."""
        value = self.lookup(key)
        if value is None:
            self.keyspace_misses += 1
        else:
            self.keyspace_hits += 1
        return value

    def lookup_typed(self, key: bytes, kind: type) -> Any:
        """The live value if it is a `kind`, None if absent; else WRONGTYPE.

        `lookup`'s body, inlined: this is the queue's hot path (LPUSH, RPOP,
        BRPOP, SADD, ZADD all start here).
        """
        expires = self.expires
        if expires and key in expires and expires[key] < self.clock.now_ms() and not self.loading:
            self.expire_now(key)
            return None
        value = self.data.get(key)
        if value is not None:
            if type(value) is not kind:
                raise CommandError(errors.WRONGTYPE)
            if self.access is not None:
                self.touch(key)
        return value

    def lookup_read_typed(self, key: bytes, kind: type) -> Any:
        """`lookup_typed` for a read command: counts a keyspace hit or miss."""
        value = self.lookup_read(key)
        if value is not None and type(value) is not kind:
            raise CommandError(errors.WRONGTYPE)
        return value

    def lookup_string(self, key: bytes) -> bytes | int | None:
        """A string value (bytes, or int for a counter), None if absent."""
        value = self.lookup(key)
        if value is not None and type(value) is not bytes and type(value) is not int:
            raise CommandError(errors.WRONGTYPE)
        return value

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    def type_name(self, key: bytes) -> bytes:
        value = self.lookup(key)
        return b"none" if value is None else TYPE_NAMES[type(value)]

    # -- writes ------------------------------------------------------------

    def add(self, key: bytes, value: Any) -> None:
        """Store a new key (the caller knows it is absent)."""
        self.data[key] = value
        self.used_memory += key_cost(key) + value_cost(value)
        if self.access is not None:
            self.touch(key)
        self.modified(key)
        if self.waiting and key in self.waiting and type(value) in BLOCKABLE_TYPES:
            self.ready[key] = None

    def replace(self, key: bytes, value: Any, *, keep_ttl: bool = False) -> None:
        """Store `value` at `key` whatever was there; drops the TTL unless told."""
        # SET's path, so lookup() is called only when it has work to do.
        if key in self.expires or self.access is not None:
            old = self.lookup(key)
        else:
            old = self.data.get(key)
        if old is None:
            self.add(key, value)
        else:
            self.data[key] = value
            if type(value) is bytes and type(old) is bytes:  # value_cost's, inline
                self.used_memory += len(value) - len(old)
            else:
                self.used_memory += value_cost(value) - value_cost(old)
            if self.watchers:
                self.modified(key)
            else:  # modified()'s count, without the call
                self.changes += 1
            if self.waiting and key in self.waiting and type(value) in BLOCKABLE_TYPES:
                self.ready[key] = None
        if not keep_ttl and key in self.expires:
            del self.expires[key]

    def set_string(self, key: bytes, value: bytes | int, old: bytes | int | None) -> None:
        """Replace a string whose old value the caller has looked up; keeps the TTL.

        The fast path of INCR and APPEND: no second lookup, no walk.
        """
        self.data[key] = value
        if old is None:
            self.used_memory += key_cost(key) + value_cost(value)
            if self.access is not None:
                self.touch(key)
        else:
            self.used_memory += value_cost(value) - value_cost(old)
        self.modified(key)

    def delete(self, key: bytes) -> bool:
        """Remove `key` if it is live; True if it was."""
        if self.lookup(key) is None:
            return False
        self._remove(key)
        self.modified(key)
        return True

    def rename(self, src: bytes, dest: bytes) -> None:
        """Move the live key `src`, value and TTL, to the absent key `dest`.

        RENAME's O(1) move: only the key names are re-priced, not the value.
        `dest` becomes ready for blocked pops exactly as `add` makes a key ready.
        """
        value = self.data.pop(src)
        self.data[dest] = value
        when = self.expires.pop(src, None)
        if when is not None:
            self.expires[dest] = when
        if self.access is not None:
            self.access[dest] = self.access.pop(src, 0)
        self.used_memory += key_cost(dest) - key_cost(src)
        self.modified(src)
        self.modified(dest)
        if self.waiting and dest in self.waiting and type(value) in BLOCKABLE_TYPES:
            self.ready[dest] = None

    def delete_if_empty(self, key: bytes, value: Any) -> None:
        """Rule 2: an aggregate that a handler emptied leaves the keyspace."""
        if not value:
            self._remove(key)

    def modified(self, key: bytes) -> None:
        """Redis's signalModifiedKey: WATCHers of `key` will fail their EXEC (rules 3, 7)."""
        self.changes += 1
        if self.watchers:
            sessions = self.watchers.get(key)
            if sessions:
                for session in sessions:
                    if session.watched.get(key) and key not in self.data:
                        # Redis 7.0: a key already expired when WATCHed and now
                        # deleted has not logically changed; it counts as absent.
                        session.watched[key] = False
                        continue
                    session.watch_dirty = True

    def flush(self) -> None:
        """FLUSHDB: every watcher of a key that existed loses its transaction."""
        if self.watchers:
            for key in list(self.watchers):
                if self.exists(key):
                    self.modified(key)
        self.changes += len(self.data)
        self.data.clear()
        self.expires.clear()
        if self.access is not None:
            self.access.clear()
        self.used_memory = 0
        self._expiry_scan = []

    def _remove(self, key: bytes) -> None:
        value = self.data.pop(key)
        self.used_memory -= key_cost(key) + value_cost(value)
        if self.expires:
            self.expires.pop(key, None)
        if self.access is not None:
            self.access.pop(key, None)

    # -- expiry ------------------------------------------------------------

    def deadline(self, key: bytes) -> int | None:
        """The key's absolute deadline in ms, or None (the caller checked it exists)."""
        return self.expires.get(key)

    def set_deadline(self, key: bytes, when_ms: int) -> None:
        """Give a live key a deadline; one already due deletes it now, as Redis does
        (except while loading: rule 5)."""
        if when_ms <= self.clock.now_ms() and not self.loading:
            self._remove(key)
            self.modified(key)
            return
        self.expires[key] = when_ms
        self.modified(key)

    def persist(self, key: bytes) -> bool:
        if self.expires.pop(key, None) is None:
            return False
        self.modified(key)
        return True

    def expire_now(self, key: bytes) -> None:
        self._remove(key)
        self.expired_keys += 1
        self.modified(key)
        if self.on_delete is not None:
            self.on_delete(key)

    def is_expired(self, key: bytes) -> bool:
        """True if `key` is logically expired but not yet reclaimed."""
        when = self.expires.get(key)
        return when is not None and when < self.clock.now_ms() and not self.loading

    def active_expire_cycle(self, budget_s: float = 0.025) -> int:
        """Reclaim expired keys nobody reads; returns how many.

        Redis 6+'s incremental scan: take the next 20 keys with a TTL from a
        cursor over the expires table, delete the due ones, and go on while
        more than a quarter of a round had expired, within a CPU-time budget.
        The cursor walks a snapshot of the table, refreshed at each wrap, so a
        full pass costs O(keys with a TTL) and new keys join the next pass.
        """
        started = time.perf_counter()
        reclaimed = 0
        expires = self.expires
        while expires:
            if self._expiry_pos >= len(self._expiry_scan):
                self._expiry_scan = list(expires)
                self._expiry_pos = 0
            end = self._expiry_pos + ACTIVE_EXPIRE_KEYS_PER_LOOP
            batch = self._expiry_scan[self._expiry_pos : end]
            self._expiry_pos = end
            now = self.clock.now_ms()
            due = 0
            for key in batch:
                when = expires.get(key)
                if when is not None and when < now:
                    self.expire_now(key)
                    due += 1
            reclaimed += due
            if due <= len(batch) * ACTIVE_EXPIRE_ACCEPTABLE_STALE:
                break
            if time.perf_counter() - started > budget_s:
                break
        return reclaimed

    # -- random keys (RANDOMKEY, eviction) ----------------------------------

    def random_key(self) -> bytes | None:
        """RANDOMKEY: a random live key, expiring the dead ones it meets."""
        while self.data:
            key = self.sampler.one(self.data)
            if self.lookup(key) is not None:
                return key
        return None

    # -- eviction ----------------------------------------------------------

    def evict_one(self, policy: str) -> bool:
        """Evict one key chosen by `policy`; False if nothing can be evicted.

        Like Redis's evictionPoolPopulate: each call samples a few keys and
        merges them into a small pool of the best candidates seen so far, so
        the approximation of LRU or soonest-TTL improves across evictions.
        """
        volatile = policy.startswith("volatile-")
        source = self.expires if volatile else self.data
        if not source:
            return False
        if policy.endswith("-random"):
            victim = self.sampler.one(source)
        else:
            victim = self._best_candidate(source, policy)
        self._remove(victim)
        self.modified(victim)
        self.evicted_keys += 1
        if self.on_delete is not None:
            self.on_delete(victim)
        return True

    def _best_candidate(self, source: dict[bytes, Any], policy: str) -> bytes:
        if len(source) <= EVICTION_SAMPLES:
            sampled = list(source)
        else:
            sampled = self.sampler.distinct(source, EVICTION_SAMPLES)
        pool = {key: None for key in self._eviction_pool if key in source}
        pool.update(dict.fromkeys(sampled))
        if policy == "volatile-ttl":
            expires = self.expires
            ranked = sorted(pool, key=lambda key: expires[key])
        else:
            access = self.access or {}
            ranked = sorted(pool, key=lambda key: access.get(key, 0))
        self._eviction_pool = ranked[1 : EVICTION_POOL_SIZE + 1]
        return ranked[0]
