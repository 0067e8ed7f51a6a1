"""maxmemory, the eviction policies and the used_memory estimate.

used_memory is the engine's own estimate (queuekit.engine.memory), so every
limit here is expressed in the same prices the engine uses: a limit of
`n * per_key` holds exactly n keys of that shape. Evictions sample keys with
the `random` module, so each test that evicts seeds it first.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from queuekit.client.memory import MemoryClient, MemoryStore
from queuekit.engine import errors
from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import EVICTION_POLICIES, Engine
from queuekit.engine.errors import CommandError
from queuekit.engine.memory import key_cost, value_cost
from queuekit.errors import ExecAbortError, OutOfMemoryError
from tests.engine.support import Client, accounted

VALUE = b"x" * 100
SEED = 20240611


def cost_of(key: bytes, value: bytes = VALUE) -> int:
    return key_cost(key) + value_cost(value)


class Harness(Client):
    """A limit and a policy; errors come back as values."""

    def __init__(self, maxmemory: int = 0, policy: str = "noeviction") -> None:
        super().__init__(errors_as_values=True, maxmemory=maxmemory, maxmemory_policy=policy)

    def key_set(self) -> set[bytes]:
        return set(self.db.data)


@pytest.fixture(autouse=True)
def seeded() -> Iterator[None]:
    """Eviction samples with `random`: seed it, and leave the global state as found."""
    state = random.getstate()
    random.seed(SEED)
    yield
    random.setstate(state)


def filled(policy: str, count: int, *, ttl_every: int = 0) -> Harness:
    """`count` keys k000.. of one shape, a limit that holds exactly them, under `policy`.

    With `ttl_every` n, every n-th key has a (long) TTL, the soonest first.
    """
    r = Harness(maxmemory=count * cost_of(b"k000"), policy=policy)
    for i in range(count):
        key = b"k%03d" % i
        if ttl_every and i % ttl_every == 0:
            assert r("SET", key, VALUE, "EX", 1000 + i) == b"OK"
        else:
            assert r("SET", key, VALUE) == b"OK"
    assert r.db.used_memory == r.engine.maxmemory
    return r


# -- noeviction -----------------------------------------------------------------


def test_noeviction_refuses_growth_with_redis_oom_error() -> None:
    """Over the limit, a write that may grow memory answers Redis's OOM error."""
    r = filled("noeviction", 10)
    r("SET", "k000", VALUE + b"y")  # under the limit before it ran: allowed, now over
    assert r.db.used_memory > r.engine.maxmemory
    assert r("SET", "new", "v") == CommandError(errors.OOM)
    assert r("RPUSH", "k-list", "a") == CommandError(errors.OOM)
    assert r("INCR", "counter") == CommandError(errors.OOM)
    assert r.db.evicted_keys == 0


def test_noeviction_still_serves_reads_and_deletes() -> None:
    """Over the limit, reads and DEL work, and a DEL that frees room lets writes in again."""
    r = filled("noeviction", 10)
    r("APPEND", "k000", "more")
    assert r("GET", "k001") == VALUE
    assert r("EXISTS", "k002") == 1
    assert r("DEL", "k003") == 1
    assert r("SET", "new", "v") == b"OK"


def test_noeviction_refusal_writes_nothing() -> None:
    """A refused command leaves no trace: no key, no partial MSET, no list element."""
    r = filled("noeviction", 10)
    r("RPUSH", "l", "a")  # was allowed: under the limit before it ran
    before = dict(r.db.data)
    used = r.db.used_memory
    assert r("MSET", "a", "1", "b", "2") == CommandError(errors.OOM)
    assert r("RPUSH", "l", "b", "c") == CommandError(errors.OOM)
    assert r("SET", "k000", "changed") == CommandError(errors.OOM)
    assert r.db.data.keys() == before.keys()
    assert list(r.db.data[b"l"]) == [b"a"]
    assert r.db.data[b"k000"] == VALUE
    assert r.db.used_memory == used == accounted(r.db)


def test_oom_through_the_client_is_out_of_memory_error() -> None:
    """The client raises OutOfMemoryError carrying Redis's message; nothing is written."""
    engine = Engine(FakeClock(), maxmemory=cost_of(b"k000"))
    store = MemoryStore(engine)
    try:
        client = MemoryClient(store)
        client.set("k000", VALUE)
        client.execute("APPEND", "k000", "y")
        with pytest.raises(OutOfMemoryError) as raised:
            client.set("other", "v")
        assert raised.value.message == errors.OOM
        assert client.get("k000") == VALUE + b"y"
        assert client.exists("other") == 0
        with pytest.raises(ExecAbortError), client.pipeline() as pipe:
            pipe.set("a", 1).set("b", 2).execute()
        assert client.exists("a", "b") == 0
        assert client.delete("k000") == 1
        assert client.set("other", "v") == b"OK"
    finally:
        store.close()


# -- eviction policies --------------------------------------------------------------


def fill_past_the_limit(r: Harness, count: int, prefix: bytes = b"n") -> None:
    """Write `count` new keys of the same shape; each write makes room first."""
    for i in range(count):
        assert r("SET", prefix + b"%02d" % i, VALUE) == b"OK"


def test_allkeys_lru_keeps_recently_read_keys() -> None:
    """Keys read after the fill survive eviction far more often than keys nobody read."""
    r = filled("allkeys-lru", 100)
    hot = {b"k%03d" % i for i in range(0, 100, 2)}
    cold = {b"k%03d" % i for i in range(1, 100, 2)}
    for key in sorted(hot):
        assert r("GET", key) == VALUE
    fill_past_the_limit(r, 40)
    survivors = r.key_set()
    hot_left, cold_left = len(hot & survivors), len(cold & survivors)
    assert r.db.evicted_keys == 100 + 40 - len(survivors) >= 39
    # Samples of 5 merged into a pool of 16: a hot key goes only when no cold key is known.
    assert hot_left == len(hot) and cold_left < len(cold) // 2, (hot_left, cold_left)
    assert {b"n%02d" % i for i in range(30)} <= survivors  # the newest are the hottest


def test_allkeys_lru_counts_writes_as_access() -> None:
    """A key just written (SET, INCR or a push on a new key) is recent, not the oldest."""
    r = filled("allkeys-lru", 20)
    for key in (b"k%03d" % i for i in range(20)):
        r("GET", key)
    r.engine.maxmemory += 3 * cost_of(b"k000")
    r("INCR", "counter")
    r("RPUSH", "list", "a")
    r("SET", "string", "v")
    r.engine.maxmemory = r.db.used_memory - 1
    r("GET", "k000")  # any command evicts first when over the limit
    assert {b"counter", b"list", b"string"} <= r.key_set()


def test_lru_tracks_only_existing_keys() -> None:
    """Reads of missing keys under an LRU policy do not grow the access table."""
    r = Harness(maxmemory=10**9, policy="allkeys-lru")
    r("SET", "a", "1")
    for i in range(1000):
        r("GET", b"missing:%d" % i)
        r("EXISTS", b"absent:%d" % i)
    r("DEL", "a")
    r("SET", "b", "2")
    assert r.db.access is not None
    assert set(r.db.access) == {b"b"}


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-random", "volatile-ttl"])
def test_volatile_policies_evict_only_keys_with_a_ttl(policy: str) -> None:
    """Only keys with a TTL are evicted; once none is left, writes get OOM."""
    r = filled(policy, 30, ttl_every=3)
    volatile = set(r.db.expires)
    assert len(volatile) == 10
    persistent = r.key_set() - volatile
    # The first write lands at the limit exactly; each later one evicts first.
    fill_past_the_limit(r, 10)
    assert persistent <= r.key_set()
    assert len(volatile & r.key_set()) == 1
    assert r("SET", "n10", VALUE) == b"OK"  # evicts the last volatile key
    assert not (volatile & r.key_set())
    assert r("SET", "n11", VALUE) == CommandError(errors.OOM)
    assert r("GET", "k001") == VALUE
    assert r.db.evicted_keys == 10


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-random", "volatile-ttl"])
def test_volatile_policies_without_any_ttl_answer_oom(policy: str) -> None:
    """With no key carrying a TTL there is nothing to evict: OOM, as under noeviction."""
    r = filled(policy, 10)
    r("APPEND", "k000", "y")
    assert r("SET", "new", "v") == CommandError(errors.OOM)
    assert r.db.evicted_keys == 0


def test_volatile_ttl_evicts_the_soonest_to_expire() -> None:
    """volatile-ttl evicts the key closest to its deadline among its samples.

    With no more keys with a TTL than the sample size, that is the soonest of all.
    """
    r = filled("noeviction", 20)
    r.engine.configure_memory(r.engine.maxmemory, "volatile-ttl")
    for key, seconds in ((b"k003", 500), (b"k007", 30), (b"k011", 90), (b"k015", 3000)):
        r("EXPIRE", key, seconds)
    r("SET", "n999", VALUE)  # lands at the limit; each later write evicts first
    for expected in (b"k007", b"k011", b"k003", b"k015"):
        r("SET", b"n" + expected[1:], VALUE)  # the same size as what it evicts
        assert expected not in r.key_set()
    assert r("SET", "last", VALUE) == CommandError(errors.OOM)


def test_allkeys_random_evicts_something() -> None:
    """allkeys-random makes room by evicting some key, any key."""
    r = filled("allkeys-random", 10)
    r("SET", "n000", VALUE)  # lands at the limit; the next write evicts first
    before = r.key_set()
    assert r("SET", "n001", VALUE) == b"OK"
    assert r.db.evicted_keys == 1
    assert len(before - r.key_set()) == 1
    assert r.db.used_memory == r.engine.maxmemory + cost_of(b"n001")  # over by the last write


@pytest.mark.parametrize("policy", [p for p in EVICTION_POLICIES if p != "noeviction"])
def test_eviction_keeps_memory_bounded_and_accounted(policy: str) -> None:
    """Under any evicting policy a long stream of writes stays within one write of the limit."""
    r = filled(policy, 50, ttl_every=1)
    for i in range(500):
        r("SET", b"w%03d" % i, VALUE, "EX", 100 + i)
        assert r.db.used_memory <= r.engine.maxmemory + cost_of(b"w000")
    assert r.db.used_memory == accounted(r.db)
    assert r.db.evicted_keys == 500 + 50 - len(r.db.data)


@pytest.mark.parametrize(
    ("maxmemory", "policy", "message"),
    [
        (0, "lru", "maxmemory policy 'lru' is not one of"),
        (-1, "noeviction", "maxmemory must be >= 0 bytes, got -1"),
    ],
)
def test_bad_memory_configuration_is_refused(maxmemory: int, policy: str, message: str) -> None:
    """A policy Redis does not have, or a negative limit, is a ValueError naming it."""
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Engine(FakeClock(), maxmemory=maxmemory, maxmemory_policy=policy)


# -- the estimate -------------------------------------------------------------------

# One command of each family the engine implements, over a few keys. Every
# name must exist in the command table (the test fails otherwise).
WORKLOAD = [
    ("SET", "s{}", "v{}"),
    ("APPEND", "s{}", "tail"),
    ("SETRANGE", "s{}", "3", "xyz"),
    ("INCR", "c{}"),
    ("INCRBY", "c{}", "1000000"),
    ("INCRBYFLOAT", "f{}", "1.5"),
    ("GETDEL", "s{}"),
    ("MSET", "m{}", "a", "n{}", "bb"),
    ("RPUSH", "l{}", "a", "bb", "ccc"),
    ("LPUSH", "l{}", "z{}"),
    ("LPOP", "l{}"),
    ("RPOP", "l{}"),
    ("SADD", "set{}", "a", "b{}"),
    ("SREM", "set{}", "a"),
    ("SPOP", "set{}"),
    ("HSET", "h{}", "f", "v", "g{}", "w"),
    ("HDEL", "h{}", "f"),
    ("HINCRBY", "h{}", "n", "7"),
    ("ZADD", "z{}", "1", "a", "2", "b{}"),
    ("ZINCRBY", "z{}", "5", "a"),
    ("ZREM", "z{}", "a"),
    ("ZPOPMIN", "z{}"),
    ("EXPIRE", "l{}", "1"),
    ("PEXPIRE", "s{}", "1500"),
    ("RENAME", "m{}", "renamed{}"),
    ("COPY", "l{}", "copy{}"),
    ("DEL", "n{}"),
]


def test_used_memory_equals_the_sum_of_costs_after_mixed_workloads() -> None:
    """After thousands of random commands, evictions and expiries, nothing has drifted."""
    r = Harness(maxmemory=6_000, policy="allkeys-lru")
    rng = random.Random(SEED)
    for step in range(5000):
        name, *args = rng.choice(WORKLOAD)
        suffix = str(rng.randrange(4))
        r(name, *(arg.format(suffix) for arg in args))
        if step % 50 == 0:
            r.clock.advance(1)
        if step % 500 == 0:
            assert r.db.used_memory == accounted(r.db), step
        if step % 1700 == 0:
            r("FLUSHDB")
    r.db.active_expire_cycle()
    assert r.db.used_memory == accounted(r.db)
    assert r.db.evicted_keys > 0
    assert r.db.expired_keys > 0
    missing = {name for name, *_ in WORKLOAD if name.lower().encode() not in r.engine.commands}
    assert not missing, f"the workload needs commands the engine lacks: {sorted(missing)}"


def test_info_memory_reports_used_memory_and_the_limit() -> None:
    """INFO memory shows used_memory, maxmemory and the policy as the engine keeps them."""
    r = filled("allkeys-lru", 3)
    info = bytes(r("INFO", "memory")).decode()
    assert f"used_memory:{r.db.used_memory}\r\n" in info
    assert f"maxmemory:{r.engine.maxmemory}\r\n" in info
    assert "maxmemory_policy:allkeys-lru\r\n" in info


# -- the estimate against the real process -------------------------------------------

RSS_PROBE = textwrap.dedent(
    """
    import gc, json, os
    from queuekit.engine.clock import FakeClock
    from queuekit.engine.engine import Engine
    from queuekit.engine.session import Session

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE

    engine = Engine(FakeClock())
    session = Session()
    execute = engine.execute
    gc.collect()
    gc.disable()
    before = rss()
    for i in range({count}):
        execute(session, (b"SET", b"key:%d" % i, b"value:%d" % i))
    after = rss()
    print(json.dumps({{"used_memory": engine.db.used_memory, "rss_growth": after - before}}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_used_memory_is_within_2x_of_real_rss_growth() -> None:
    """At 1,000,000 string keys the estimate is within a factor of 2 of what the process grew."""
    probe = subprocess.run(
        [sys.executable, "-c", RSS_PROBE.format(count=1_000_000)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = json.loads(probe.stdout)
    ratio = measured["used_memory"] / measured["rss_growth"]
    assert 0.5 <= ratio <= 2.0, measured
