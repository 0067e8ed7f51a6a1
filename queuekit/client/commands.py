"""Typed convenience methods over `execute_command`, shared by every client.

Each method builds one command and hands it to `execute_command`: a client
runs it and returns the reply (an awaitable one for async clients); a
pipeline buffers it and returns itself, so calls chain. Names and argument
order follow redis-py, which most users already know.
"""

from __future__ import annotations

from typing import Any


class Commands:
    """The typed surface; subclasses provide `execute_command`."""

    # True for a Redis Cluster client: keys of different hash tags may live on
    # different nodes, so a multi-key command, a MULTI or a WATCH must stay
    # inside one tag, and the job layer fetches from several queues in turn.
    cluster = False

    def execute_command(self, *args: Any) -> Any:
        return self.execute(*args)

    def execute(self, *args: Any) -> Any:  # pragma: no cover - every client overrides
        raise NotImplementedError

    # -- keys --------------------------------------------------------------

    def delete(self, *keys: Any) -> Any:
        return self.execute_command(b"DEL", *keys)

    def exists(self, *keys: Any) -> Any:
        return self.execute_command(b"EXISTS", *keys)

    def expire(self, key: Any, seconds: int) -> Any:
        return self.execute_command(b"EXPIRE", key, seconds)

    def pexpire(self, key: Any, milliseconds: int) -> Any:
        return self.execute_command(b"PEXPIRE", key, milliseconds)

    def ttl(self, key: Any) -> Any:
        return self.execute_command(b"TTL", key)

    def pttl(self, key: Any) -> Any:
        return self.execute_command(b"PTTL", key)

    def type(self, key: Any) -> Any:
        return self.execute_command(b"TYPE", key)

    def dbsize(self) -> Any:
        return self.execute_command(b"DBSIZE")

    def flushdb(self) -> Any:
        return self.execute_command(b"FLUSHDB")

    def ping(self) -> Any:
        return self.execute_command(b"PING")

    # -- strings -----------------------------------------------------------

    def get(self, key: Any) -> Any:
        return self.execute_command(b"GET", key)

    def set(
        self,
        key: Any,
        value: Any,
        *,
        ex: float | None = None,
        px: int | None = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
    ) -> Any:
        args: list[Any] = [b"SET", key, value]
        if ex is not None:
            args += [b"PX", int(ex * 1000)] if isinstance(ex, float) else [b"EX", ex]
        if px is not None:
            args += [b"PX", px]
        if nx:
            args.append(b"NX")
        if xx:
            args.append(b"XX")
        if keepttl:
            args.append(b"KEEPTTL")
        if get:
            args.append(b"GET")
        return self.execute_command(*args)

    def mget(self, keys: Any, *more: Any) -> Any:
        """MGET of a list of keys, or of keys given one by one (as redis-py takes both)."""
        names = [keys] if isinstance(keys, str | bytes) else list(keys)
        return self.execute_command(b"MGET", *names, *more)

    def incr(self, key: Any, amount: int = 1) -> Any:
        if amount == 1:
            return self.execute_command(b"INCR", key)
        return self.execute_command(b"INCRBY", key, amount)

    def decr(self, key: Any, amount: int = 1) -> Any:
        if amount == 1:
            return self.execute_command(b"DECR", key)
        return self.execute_command(b"DECRBY", key, amount)

    # -- lists -------------------------------------------------------------

    def lpush(self, key: Any, *values: Any) -> Any:
        return self.execute_command(b"LPUSH", key, *values)

    def rpush(self, key: Any, *values: Any) -> Any:
        return self.execute_command(b"RPUSH", key, *values)

    def lpop(self, key: Any, count: int | None = None) -> Any:
        if count is None:
            return self.execute_command(b"LPOP", key)
        return self.execute_command(b"LPOP", key, count)

    def rpop(self, key: Any, count: int | None = None) -> Any:
        if count is None:
            return self.execute_command(b"RPOP", key)
        return self.execute_command(b"RPOP", key, count)

    def blpop(self, keys: Any, timeout: float = 0) -> Any:
        keys = [keys] if isinstance(keys, str | bytes) else list(keys)
        return self.execute_command(b"BLPOP", *keys, timeout)

    def brpop(self, keys: Any, timeout: float = 0) -> Any:
        keys = [keys] if isinstance(keys, str | bytes) else list(keys)
        return self.execute_command(b"BRPOP", *keys, timeout)

    def blmove(
        self, source: Any, destination: Any, timeout: float, src: str = "LEFT", dest: str = "RIGHT"
    ) -> Any:
        return self.execute_command(b"BLMOVE", source, destination, src, dest, timeout)

    def llen(self, key: Any) -> Any:
        return self.execute_command(b"LLEN", key)

    def lrange(self, key: Any, start: int, end: int) -> Any:
        return self.execute_command(b"LRANGE", key, start, end)

    def lrem(self, key: Any, count: int, value: Any) -> Any:
        return self.execute_command(b"LREM", key, count, value)

    # -- sets --------------------------------------------------------------

    def sadd(self, key: Any, *members: Any) -> Any:
        return self.execute_command(b"SADD", key, *members)

    def srem(self, key: Any, *members: Any) -> Any:
        return self.execute_command(b"SREM", key, *members)

    def sismember(self, key: Any, member: Any) -> Any:
        return self.execute_command(b"SISMEMBER", key, member)

    def smembers(self, key: Any) -> Any:
        return self.execute_command(b"SMEMBERS", key)

    def scard(self, key: Any) -> Any:
        return self.execute_command(b"SCARD", key)

    # -- sorted sets -------------------------------------------------------

    def zadd(
        self,
        key: Any,
        mapping: dict[Any, float],
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> Any:
        flags = [
            name
            for name, on in ((b"NX", nx), (b"XX", xx), (b"GT", gt), (b"LT", lt), (b"CH", ch))
            if on
        ]
        args: list[Any] = [b"ZADD", key, *flags]
        for member, score in mapping.items():
            args += [score, member]
        return self.execute_command(*args)

    def zrem(self, key: Any, *members: Any) -> Any:
        return self.execute_command(b"ZREM", key, *members)

    def zscore(self, key: Any, member: Any) -> Any:
        return self.execute_command(b"ZSCORE", key, member)

    def zcard(self, key: Any) -> Any:
        return self.execute_command(b"ZCARD", key)

    def zrangebyscore(
        self,
        key: Any,
        min: Any,
        max: Any,
        start: int | None = None,
        num: int | None = None,
        *,
        withscores: bool = False,
    ) -> Any:
        args: list[Any] = [b"ZRANGEBYSCORE", key, min, max]
        if withscores:
            args.append(b"WITHSCORES")
        if start is not None and num is not None:
            args += [b"LIMIT", start, num]
        return self.execute_command(*args)

    def zpopmin(self, key: Any, count: int | None = None) -> Any:
        if count is None:
            return self.execute_command(b"ZPOPMIN", key)
        return self.execute_command(b"ZPOPMIN", key, count)

    # -- hashes ------------------------------------------------------------

    def hset(
        self, key: Any, field: Any = None, value: Any = None, mapping: dict[Any, Any] | None = None
    ) -> Any:
        args: list[Any] = [b"HSET", key]
        if field is not None:
            args += [field, value]
        for pair in (mapping or {}).items():
            args += pair
        return self.execute_command(*args)

    def hget(self, key: Any, field: Any) -> Any:
        return self.execute_command(b"HGET", key, field)

    def hgetall(self, key: Any) -> Any:
        return self.execute_command(b"HGETALL", key)

    def hdel(self, key: Any, *fields: Any) -> Any:
        return self.execute_command(b"HDEL", key, *fields)

    def hincrby(self, key: Any, field: Any, amount: int = 1) -> Any:
        return self.execute_command(b"HINCRBY", key, field, amount)
