"""A tour of every engine command through redis-py, run against two servers and compared.

Each step is a redis-py method call (or `execute_command` for what redis-py
does not wrap). The same steps run on the queuekit server and on a real
redis-server with the same client settings; the outcomes, values decoded by
redis-py or exceptions (type and message), must be equal, after a step's
normalization for replies that are random or in hash order. Steps marked
`error=True` must fail on Redis too, so the tour itself stays honest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio

Outcome = tuple[str, Any]


@dataclass(frozen=True)
class Step:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    how: str = "exact"  # exact | sorted | type | shape | scan | keyspace
    error: bool = False

    @property
    def command(self) -> str:
        """The Redis command the step sends (for the coverage check)."""
        if self.method == "execute_command":
            return str(self.args[0]).lower()
        return _COMMAND_OF.get(self.method, self.method)


_COMMAND_OF = {"delete": "del"}


def s(method: str, *args: Any, how: str = "exact", error: bool = False, **kwargs: Any) -> Step:
    return Step(method, args, kwargs, how, error)


def raw(*argv: Any, how: str = "exact", error: bool = False) -> Step:
    return Step("execute_command", argv, {}, how, error)


KEYS_AND_STRINGS = [
    s("flushall"),
    s("set", "s", "v"),
    s("get", "s"),
    s("set", "s", "v2", nx=True),
    s("set", "s", "v3", xx=True, get=True),
    s("set", "n", "10", ex=100),
    s("ttl", "n"),
    s("pttl", "n", how="type"),
    s("set", "p", "1", px=100000),
    s("persist", "p"),
    s("ttl", "p"),
    s("exists", "s", "n", "missing"),
    s("type", "s"),
    s("append", "s", "!"),
    s("strlen", "s"),
    s("getrange", "s", 0, 1),
    s("setrange", "s", 1, "XY"),
    s("get", "s"),
    s("incr", "n"),
    s("incrby", "n", 5),
    s("decr", "n"),
    s("decrby", "n", 3),
    s("incrbyfloat", "f", 2.5),
    s("incrbyfloat", "f", "1e3"),
    s("incr", "s", error=True),
    s("incrbyfloat", "s", 1, error=True),
    s("mset", {"m1": "a", "m2": "b"}),
    s("mget", "m1", "m2", "nope"),
    s("msetnx", {"m2": "x", "m3": "y"}),
    s("setnx", "m3", "z"),
    s("setnx", "m3", "zz"),
    raw("SETEX", "se", 100, "v"),
    s("psetex", "pse", 100000, "v"),
    s("ttl", "pse"),
    s("getset", "m1", "A"),
    s("getdel", "m1"),
    s("getdel", "m1"),
    s("getex", "m2", ex=50),
    s("ttl", "m2"),
    s("expire", "m2", 200),
    s("expire", "m2", 100, gt=True),
    s("pexpire", "m2", 300000),
    s("expireat", "m2", 4102444800),
    s("expiretime", "m2"),
    s("pexpireat", "m2", 4102444800123),
    s("pexpiretime", "m2"),
    s("expiretime", "s"),
    s("expiretime", "missing"),
    s("copy", "s", "s2"),
    s("copy", "s", "s2"),
    s("rename", "s2", "s3"),
    s("renamenx", "s3", "n"),
    s("rename", "missing", "x", error=True),
    s("keys", "m*", how="sorted"),
    s("scan", 0, match="m*", count=1000, how="scan"),
    s("randomkey", how="type"),
    s("dbsize"),
    s("delete", "s3", "missing"),
    s("unlink", "m2", "m3"),
    s("echo", "hello"),
    s("ping"),
    s("time", how="shape"),
    s("get", "missing"),
    raw("GET", error=True),
    raw("NOSUCHCOMMAND", "a", error=True),
]

LISTS = [
    s("rpush", "l", "a", "b", "c", "b"),
    s("lpush", "l", "z"),
    s("lpushx", "l", "y"),
    s("rpushx", "nolist", "y"),
    s("llen", "l"),
    s("lrange", "l", 0, -1),
    s("lindex", "l", -1),
    s("linsert", "l", "BEFORE", "c", "x"),
    s("lset", "l", 0, "Y"),
    s("lset", "l", 99, "Y", error=True),
    s("lpos", "l", "b"),
    s("lpos", "l", "b", rank=-1),
    s("lpos", "l", "b", count=0),
    s("lpos", "l", "b", count=1, maxlen=3),
    s("lrem", "l", 1, "b"),
    s("ltrim", "l", 0, 4),
    s("lrange", "l", 0, -1),
    s("lpop", "l"),
    s("lpop", "l", 2),
    s("rpop", "l"),
    s("rpush", "l", "1", "2", "3", "4"),
    s("rpoplpush", "l", "l2"),
    s("lmove", "l", "l2", "LEFT", "RIGHT"),
    s("blmove", "l", "l2", 1, "RIGHT", "LEFT"),
    s("lmpop", 2, "empty", "l", direction="LEFT"),
    s("lmpop", 1, "empty", direction="LEFT"),
    s("blmpop", 1, 2, "empty", "l2", direction="RIGHT", count=2),
    s("rpush", "l2", "p", "q", "r"),
    s("blpop", ["empty", "l2"], timeout=1),
    s("brpop", ["l2"], timeout=1),
    s("brpoplpush", "l", "l2", timeout=1),
    s("blpop", ["empty"], timeout=0.1),
    s("brpop", ["empty"], timeout=0.1),
    s("lrange", "l2", 0, -1),
    s("lpush", "s", "x", error=True),
    s("llen", "missing"),
]

SETS = [
    s("sadd", "a", "1", "2", "3", "4"),
    s("sadd", "b", "3", "4", "5"),
    s("scard", "a"),
    s("sismember", "a", "1"),
    s("smismember", "a", ["1", "9"]),
    s("smembers", "a"),
    s("srem", "a", "4", "9"),
    s("smove", "a", "b", "1"),
    s("sdiff", "a", "b", how="sorted"),
    s("sdiffstore", "d", ["a", "b"]),
    s("sinter", "a", "b", how="sorted"),
    s("sinterstore", "i", ["a", "b"]),
    s("sintercard", 2, ["a", "b"]),
    s("sintercard", 2, ["a", "b"], limit=1),
    s("sunion", "a", "b", how="sorted"),
    s("sunionstore", "u", ["a", "b"]),
    s("smembers", "u"),
    s("spop", "u", how="type"),
    s("spop", "u", 2, how="shape"),
    s("srandmember", "b", how="type"),
    s("srandmember", "b", -5, how="shape"),
    s("sscan", "b", 0, count=1000, how="scan"),
    s("sadd", "s", "x", error=True),
]

HASHES = [
    s("hset", "h", "f1", "v1"),
    s("hset", "h", mapping={"f2": "2", "f3": "3.5"}),
    raw("HMSET", "h", "f4", "x", "f5", "y"),
    s("hsetnx", "h", "f1", "no"),
    s("hget", "h", "f1"),
    s("hmget", "h", ["f1", "nope", "f2"]),
    s("hgetall", "h"),
    s("hkeys", "h", how="sorted"),
    s("hvals", "h", how="sorted"),
    s("hlen", "h"),
    s("hexists", "h", "f2"),
    s("hdel", "h", "f4", "f5", "nope"),
    s("hincrby", "h", "f2", 5),
    s("hincrbyfloat", "h", "f3", 1.25),
    s("hincrby", "h", "f1", 1, error=True),
    s("hstrlen", "h", "f1"),
    s("hrandfield", "h", how="type"),
    s("hrandfield", "h", 2, withvalues=True, how="shape"),
    s("hscan", "h", 0, count=1000, how="scan"),
    s("hgetall", "missing"),
    s("hget", "s", "f", error=True),
]

TRANSACTIONS_AND_SERVER = [
    raw("MULTI"),
    raw("INCR", "counter"),
    raw("LPUSH", "h", "x"),
    raw("EXEC"),
    s("info", "keyspace", how="keyspace"),
    raw("WATCH", "h"),
    raw("UNWATCH"),
    raw("EXEC", error=True),
    raw("DISCARD", error=True),
    s("dbsize"),
    s("flushdb"),
    s("dbsize"),
]

ZSETS = [
    s("set", "s", "v"),
    s("zadd", "z", {"a": 1, "b": 2.5, "c": 3}),
    s("zadd", "z", {"a": 5}, xx=True, ch=True),
    s("zadd", "z", {"d": 4}, nx=True),
    s("zadd", "z", {"e": 1.5}, incr=True),
    s("zscore", "z", "b"),
    s("zmscore", "z", ["a", "nope"]),
    s("zincrby", "z", 1.5, "b"),
    s("zcard", "z"),
    s("zcount", "z", 2, "+inf"),
    s("zrank", "z", "c"),
    s("zrevrank", "z", "c"),
    s("zrange", "z", 0, -1),
    s("zrange", "z", 0, -1, withscores=True),
    s("zrange", "z", 0, -1, desc=True),
    s("zrange", "z", "(1", 10, byscore=True, offset=1, num=2),
    s("zrevrange", "z", 0, 1),
    s("zrangebyscore", "z", 2, 5, withscores=True),
    s("zrevrangebyscore", "z", 5, 2),
    s("zrangestore", "z2", "z", 0, 1),
    s("zadd", "lex", {"a": 0, "b": 0, "c": 0, "d": 0}),
    s("zrangebylex", "lex", "[a", "(c"),
    s("zrevrangebylex", "lex", "+", "-"),
    s("zlexcount", "lex", "-", "+"),
    s("zremrangebylex", "lex", "[a", "[a"),
    s("zrem", "z", "d", "nope"),
    s("zremrangebyrank", "z2", 0, 0),
    s("zremrangebyscore", "z", "-inf", 1.5),
    s("zrandmember", "z", how="type"),
    s("zrandmember", "z", -5, how="shape"),
    s("zscan", "z", 0, count=1000, how="scan"),
    s("zadd", "p", {"x": 1, "y": 2, "z": 3, "w": 4}),
    s("zpopmin", "p"),
    s("zpopmax", "p", 2),
    s("bzpopmin", ["empty", "p"], timeout=1),
    s("bzpopmax", ["z"], timeout=1),
    s("bzpopmin", ["empty"], timeout=0.1),
    s("zmpop", 2, ["empty", "z"], min=True),
    s("bzmpop", 1, 1, ["lex"], max=True, count=5),
    s("zadd", "s", {"x": 1}, error=True),
    s("zscore", "z", "missing"),
    s("zadd", "z", {"a": "nan"}, error=True),
    # set operations
    s("zadd", "u1", {"a": 1, "b": 2}),
    s("zadd", "u2", {"b": 3, "c": 4}),
    s("zunionstore", "zu", ["u1", "u2"]),
    s("zinterstore", "zi", {"u1": 2, "u2": 1}, aggregate="MAX"),
    s("zdiffstore", "zd", ["u1", "u2"]),
    s("zunion", ["u1", "u2"], withscores=True),
    s("zinter", ["u1", "u2"]),
    s("zdiff", ["u1", "u2"], withscores=True),
    s("zintercard", 2, ["u1", "u2"]),
]

TOUR = KEYS_AND_STRINGS + LISTS + SETS + HASHES + TRANSACTIONS_AND_SERVER
ZSET_TOUR = [s("flushall"), *ZSETS]


def _plain(value: Any) -> Any:
    """Error replies inside an array (EXEC's) as comparable text."""
    if isinstance(value, Exception):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def normalize(value: Any, how: str) -> Any:
    value = _plain(value)
    if how == "sorted":
        return sorted(value, key=repr)
    if how == "type":
        return type(value).__name__
    if how == "shape":
        return (type(value).__name__, len(value))
    if how == "keyspace":
        return {db: (counts["keys"], counts["expires"]) for db, counts in value.items()}
    if how == "scan":
        cursor, items = value
        listed = sorted(items.items() if isinstance(items, dict) else items, key=repr)
        return (cursor, listed)
    return value


def outcome_of(step: Step, call: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", normalize(call(), step.how))
    except redis.RedisError as error:
        return ("error", f"{type(error).__name__}: {error}")


def run_tour(client: redis.Redis, steps: list[Step]) -> list[Outcome]:
    results = []
    for step in steps:
        method = getattr(client, step.method)
        results.append(outcome_of(step, lambda m=method, st=step: m(*st.args, **st.kwargs)))
    return results


async def run_tour_async(client: redis.asyncio.Redis, steps: list[Step]) -> list[Outcome]:
    results: list[Outcome] = []
    for step in steps:
        method = getattr(client, step.method)
        try:
            awaitable: Awaitable[Any] = method(*step.args, **step.kwargs)
            results.append(("ok", normalize(await awaitable, step.how)))
        except redis.RedisError as error:
            results.append(("error", f"{type(error).__name__}: {error}"))
    return results


def compare(
    steps: list[Step], redis_side: list[Outcome], queuekit_side: list[Outcome]
) -> list[str]:
    """A line per step that differs, or whose Redis outcome the tour did not intend."""
    problems = []
    for index, (step, expected, actual) in enumerate(
        zip(steps, redis_side, queuekit_side, strict=True)
    ):
        label = f"step {index} {step.method}{step.args}{step.kwargs or ''}"
        if (expected[0] == "error") != step.error:
            problems.append(f"{label}: the tour is wrong, Redis gave {expected!r}")
        if expected != actual:
            problems.append(f"{label}: redis {expected!r} != queuekit {actual!r}")
    return problems
