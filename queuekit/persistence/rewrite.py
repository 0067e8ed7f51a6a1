"""The dataset as commands: what an AOF rewrite writes as the new base file.

    write_base(db, stream)           every live key's commands, RESP text, to a binary stream
    write_base_file(path, db)        the same into a new file, fsynced (a rewrite child's work)

The base is RESP text, like every AOF file (Redis's aof-use-rdb-preamble no),
so a person can read it and `queuekit check-aof` can check it.

Rules (Redis's rewriteAppendOnlyFileRio, one key at a time):
1. Each key is its write, then its deadline if it has one: SET key value
   for a string, RPUSH / SADD / HSET / ZADD key ... for a list, set, hash or
   sorted set, then PEXPIREAT key ms. An aggregate takes one command per
   ITEMS_PER_COMMAND elements, so no command is huge and a replay never
   builds one giant argument list.
2. A counter (an int value, as INCR keeps it) is written INCRBY key n: the
   base replays into an empty keyspace, where INCRBY makes the same int
   that INCR made, and SET would make bytes. A counter stays a counter.
3. Scores are written as Redis writes doubles ("%.17g", inf spelled out),
   which read back as the same float; -inf and inf included.
4. A key whose deadline has passed is skipped: it does not exist (the
   keyspace's rule 1), and a replay would only delete it again.
5. This runs in the forked rewrite child: it reads the db, writes the
   stream, and nothing else (no logging, no clock but the db's).
   `key_delay_s` sleeps after each key: a test hook that makes a rewrite
   slow enough to be killed midway (Redis's rdb-key-save-delay).
6. The file is fsynced every SYNC_EVERY_BYTES as it grows (Redis's
   aof-rewrite-incremental-fsync): left to the kernel, tens of megabytes of
   dirty pages are flushed at once, and the server's own writes to its incr
   file stall behind them (the kernel throttles every writer of a dirty
   disk).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any, BinaryIO

from queuekit.engine.zset import ZSet
from queuekit.resp.encoder import encode_command, format_double

if TYPE_CHECKING:
    from queuekit.engine.db import Database

# Redis's AOF_REWRITE_ITEMS_PER_CMD: elements (or field-value and score-member pairs)
# per RPUSH / SADD / HSET / ZADD.
ITEMS_PER_COMMAND = 64
WRITE_BUFFER_BYTES = 1024 * 1024
# Rule 6: Redis's REDIS_AUTOSYNC_BYTES, checked every KEYS_PER_CHECK keys.
SYNC_EVERY_BYTES = 4 * 1024 * 1024
KEYS_PER_CHECK = 1024
SET_FRAME = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"


def write_base(
    db: Database,
    stream: BinaryIO,
    *,
    key_delay_s: float = 0.0,
    checkpoint: Callable[[], None] | None = None,
) -> int:
    """Write the commands that rebuild `db` (rules 1-4); how many keys were written.

    `checkpoint` is called every KEYS_PER_CHECK keys (rule 6).
    """
    now = db.clock.now_ms()
    expires = db.expires
    written = 0
    for key, value in db.data.items():
        deadline = expires.get(key)
        if deadline is not None and deadline < now:
            continue  # rule 4
        kind = type(value)
        if kind is bytes:  # the common case, one format call: ~40% faster than encode_command
            stream.write(SET_FRAME % (len(key), key, len(value), value))
        elif kind is int:
            stream.write(encode_command((b"INCRBY", key, b"%d" % value)))
        else:
            for command in _aggregate(key, value):
                stream.write(encode_command(command))
        if deadline is not None:
            stream.write(encode_command((b"PEXPIREAT", key, b"%d" % deadline)))
        written += 1
        if key_delay_s:
            time.sleep(key_delay_s)
        if checkpoint is not None and not written % KEYS_PER_CHECK:
            checkpoint()
    return written


def _aggregate(key: bytes, value: Any) -> Iterator[list[bytes]]:
    """RPUSH / SADD / HSET / ZADD commands of at most ITEMS_PER_COMMAND elements."""
    if isinstance(value, deque):
        name, items = b"RPUSH", _flat((item,) for item in value)
    elif isinstance(value, set):
        name, items = b"SADD", _flat((member,) for member in value)
    elif isinstance(value, dict):
        name, items = b"HSET", _flat(value.items())
    elif isinstance(value, ZSet):
        name, items = b"ZADD", _flat((format_double(score), member) for score, member in value)
    else:
        raise TypeError(f"key {key!r} holds a {type(value).__name__}, which has no AOF form")
    for chunk in items:
        yield [name, key, *chunk]


def _flat(groups: Iterable[tuple[bytes, ...]]) -> Iterator[list[bytes]]:
    """ITEMS_PER_COMMAND groups at a time, flattened into one argument list."""
    groups = iter(groups)
    while chunk := list(islice(groups, ITEMS_PER_COMMAND)):
        yield [part for group in chunk for part in group]


def write_base_file(path: str | os.PathLike[str], db: Database, *, key_delay_s: float = 0.0) -> int:
    """Write the base to a new file at `path` and fsync it; how many keys.

    `path` is a temp name: the caller renames it into place (files.install)
    only once this returned, so a crash midway leaves only a temp file.
    """
    with open(path, "wb", buffering=WRITE_BUFFER_BYTES) as stream:
        synced = 0

        def sync_if_grown() -> None:  # rule 6
            nonlocal synced
            if stream.tell() - synced >= SYNC_EVERY_BYTES:
                stream.flush()
                os.fsync(stream.fileno())
                synced = stream.tell()

        keys = write_base(db, stream, key_delay_s=key_delay_s, checkpoint=sync_if_grown)
        stream.flush()
        os.fsync(stream.fileno())
    return keys
