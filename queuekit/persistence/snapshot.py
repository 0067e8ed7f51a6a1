"""The snapshot file (DIR/dump.qkdb): the whole dataset at one moment, TTLs included.

    write_snapshot(db, path)           temp file, fsync, rename, directory fsync
    temp_path(path, pid)               where process `pid` writes it before the rename
    dump(db, stream)                   the format onto an open binary stream
    load_snapshot(path, engine)        fill an empty engine from a snapshot
    check_snapshot(path)               read it through, change nothing

The format, version 1 (all integers in the framing are big-endian):

    file    = header block+
    header  = "QKDB" version:u32                         8 bytes; version 1
    block   = length:u32 crc:u32 payload[length]         length >= 1,
              crc = zlib.crc32(payload), payload = one msgpack array of records

Each record is a msgpack array whose first item is its code. Keys, string
values and elements are msgpack bin; a deadline is an absolute Unix time in
milliseconds (int) or nil for a key without a TTL.

    [0, created_ms]                         META: first record of the file
    [1, key, deadline, value]               a string: bin, or int for a counter
    [2, key, deadline, [element, ...]]      a list, head first
    [3, key, deadline, [member, ...]]       a set
    [4, key, deadline, [field, value, ...]] a hash, flattened
    [5, key, deadline, [member, score, ...]] a sorted set, ascending; scores float64
    [6, [item, ...]]                        MORE: further items of the aggregate
                                            just opened (big values come in chunks)
    [7, key_count]                          END: the last record of the last block

Rules:
1. Nothing is read from a block before its checksum matched; a block that
   does not match, a length that runs past the end of the file, a record
   that is not one of the above, and any byte after the END block are
   corruption: CorruptFileError names the file and the byte offset of the
   block. A file that ends before its END record was cut short (a crash
   mid-write cannot produce one: see rule 2) and is refused the same way.
2. A snapshot is written to `temp-PID.qkdb` beside its final name,
   fsynced, renamed over it, and the directory fsynced (files.install):
   a crash at any moment leaves the previous snapshot whole, and a temp
   file is never loaded.
3. Keys are stored with their absolute deadlines. `load_snapshot` skips
   keys whose deadline passed while the server was down (Redis's rdbLoad);
   `skip_expired=False` keeps them, for an append-only file's base whose
   later commands may still refer to them (the caller purges after replay).
4. Writing and reading stream block by block: neither holds the file in
   memory. An aggregate is cut into records of at most CHUNK_ITEMS items; a
   block closes once it holds BLOCK_BYTES of data or BLOCK_RECORDS records,
   so a block holds at least one record and is as big as its biggest item.
5. A counter (an int value) stays an int; a sorted set is rebuilt member by
   member, so its compact (listpack-like) form is chosen again from its size,
   as Redis converts a small sorted set back to a listpack when it loads.
6. The dataset goes in as it is: keys already expired but not yet reclaimed
   are written with their deadline and dropped by rule 3 at load.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import struct
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import msgpack  # type: ignore[import-untyped]

from queuekit.engine.db import Database
from queuekit.engine.engine import Engine
from queuekit.engine.memory import key_cost, value_cost
from queuekit.engine.zset import ZSet
from queuekit.errors import CorruptFileError, PersistenceError
from queuekit.persistence.files import TEMP_PREFIX, install

SNAPSHOT_NAME = "dump.qkdb"  # in the data directory, as Redis's dump.rdb
MAGIC = b"QKDB"
VERSION = 1
HEADER = struct.Struct(">4sI")
BLOCK_HEADER = struct.Struct(">II")  # payload length, crc32 of the payload

META, STRING, LIST, SET, HASH, ZSET_, MORE, END = range(8)
_KINDS = {bytes: STRING, int: STRING, deque: LIST, set: SET, dict: HASH, ZSet: ZSET_}

# Rule 4. Measured writing and loading 1M small keys: blocks of 256 to 4096
# records were within the machine's noise of each other, 16384 and more
# 20-40% slower (bigger lists to build and free); 64 KiB stays in a CPU cache.
BLOCK_BYTES = 64 * 1024
BLOCK_RECORDS = 1024
CHUNK_ITEMS = 1024  # even: a hash or sorted set chunk holds whole pairs
_INT_BYTES = 9  # a msgpack int64, for the block size estimate

_REMEDY = (
    "the snapshot cannot be loaded: restore it from a backup, or move it away to start "
    "without it; `queuekit check-snapshot FILE` checks a copy"
)


@dataclass(frozen=True, slots=True)
class SnapshotReport:
    """What a write, load or check saw: keys, bytes, when the snapshot was taken."""

    path: str
    keys: int  # keys in the file
    file_bytes: int
    created_ms: int  # Unix ms at which the dataset was dumped
    expired_keys: int = 0  # load: keys skipped because their deadline had passed

    def describe(self) -> str:
        """One line for a person, as `queuekit check-snapshot` prints it."""
        taken = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.created_ms / 1000))
        return (
            f"snapshot {self.path} is valid: {self.keys} keys, {self.file_bytes} bytes, "
            f"taken at {taken} UTC"
        )


def corrupt(path: str, offset: int, reason: str) -> CorruptFileError:
    return CorruptFileError(path, offset, reason, _REMEDY, kind="snapshot")


# -- writing ---------------------------------------------------------------------


def temp_path(path: str | os.PathLike[str], pid: int) -> Path:
    """The temp file process `pid` writes the snapshot `path` into (rule 2)."""
    return Path(path).with_name(f"{TEMP_PREFIX}{pid}.qkdb")


def write_snapshot(
    db: Database, path: str | os.PathLike[str], *, key_delay_s: float = 0.0
) -> SnapshotReport:
    """Dump `db` to `path` so that a crash leaves the old file or the new one (rule 2).

    `key_delay_s` sleeps after each key: a test hook that makes a snapshot
    slow enough to be killed midway (Redis's rdb-key-save-delay).
    Raises PersistenceError (the old file is then untouched and the temp file gone).
    """
    final = Path(path)
    temp = temp_path(final, os.getpid())
    created_ms = int(time.time() * 1000)
    try:
        with open(temp, "wb") as stream:
            keys = dump(db, stream, created_ms, key_delay_s=key_delay_s)
            stream.flush()
            os.fsync(stream.fileno())
            size = stream.tell()
        install(temp, final)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(error, OSError):
            raise PersistenceError(f"cannot write the snapshot {final}: {error}") from error
        raise
    return SnapshotReport(str(final), keys, size, created_ms)


def dump(db: Database, stream: BinaryIO, created_ms: int, *, key_delay_s: float = 0.0) -> int:
    """Write the format (header to END) onto `stream`; the number of keys."""
    stream.write(HEADER.pack(MAGIC, VERSION))
    blocks = _BlockWriter(stream)
    blocks.add([META, created_ms], _INT_BYTES)
    expires = db.expires
    keys = 0
    add = blocks.add
    for key, value in db.data.items():
        kind = type(value)
        if kind is bytes:
            add([STRING, key, expires.get(key), value], len(key) + len(value))
        elif kind is int:
            add([STRING, key, expires.get(key), value], len(key) + _INT_BYTES)
        else:
            _dump_aggregate(blocks, _KINDS[kind], key, expires.get(key), value)
        keys += 1
        if key_delay_s:
            time.sleep(key_delay_s)
    add([END, keys], _INT_BYTES)
    blocks.flush()
    return keys


def _dump_aggregate(
    blocks: _BlockWriter, code: int, key: bytes, deadline: int | None, value: Any
) -> None:
    items: Iterator[Any]
    if code == HASH:
        items = itertools.chain.from_iterable(value.items())
    elif code == ZSET_:
        items = itertools.chain.from_iterable((member, score) for score, member in value)
    else:
        items = iter(value)
    record: list[Any] = [code, key, deadline]
    for chunk in _chunks(items):
        size = len(key) + sum(len(item) if type(item) is bytes else _INT_BYTES for item in chunk)
        blocks.add([*record, chunk], size)
        record = [MORE]


def _chunks(items: Iterator[Any]) -> Iterator[list[Any]]:
    while chunk := list(itertools.islice(items, CHUNK_ITEMS)):
        yield chunk


class _BlockWriter:
    """Records gathered into checksummed blocks (rule 4)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.records: list[list[Any]] = []
        self.size = 0
        self.packer = msgpack.Packer(use_bin_type=True, autoreset=True)

    def add(self, record: list[Any], size: int) -> None:
        self.records.append(record)
        self.size += size
        if self.size >= BLOCK_BYTES or len(self.records) >= BLOCK_RECORDS:
            self.flush()

    def flush(self) -> None:
        if not self.records:
            return
        payload = self.packer.pack(self.records)
        self.stream.write(BLOCK_HEADER.pack(len(payload), zlib.crc32(payload)))
        self.stream.write(payload)
        self.records = []
        self.size = 0


# -- reading ----------------------------------------------------------------------


def load_snapshot(
    path: str | os.PathLike[str], engine: Engine, *, skip_expired: bool = True
) -> SnapshotReport:
    """Fill the empty `engine` from the snapshot at `path` (rules 1, 3, 5).

    Raises CorruptFileError naming the file and offset, PersistenceError if
    it cannot be read, ValueError if the engine already holds keys.
    """
    db = engine.db
    if db.data:
        raise ValueError(f"a snapshot loads into an empty engine; this one holds {len(db.data)}")
    now = db.clock.now_ms() if skip_expired else None
    return _read(os.fspath(path), _Loader(db, now))


def check_snapshot(path: str | os.PathLike[str]) -> SnapshotReport:
    """Read the snapshot at `path` through, as a load would, into a throwaway engine.

    It holds the dataset in memory while it checks, as loading does; expired
    keys are kept, so the report counts every key in the file.
    """
    return load_snapshot(path, Engine(), skip_expired=False)


class _Loader:
    """Records in, keys out: META first, an aggregate's MOREs after it, END last.

    Strings go straight into the keyspace (the bulk of a queue's data, so
    their path is inlined); an aggregate is built across its records and
    added when the next record shows it is complete.
    """

    def __init__(self, db: Database, now_ms: int | None) -> None:
        self.db = db
        self.now_ms = now_ms  # None: keep expired keys (rule 3)
        self.created_ms = -1  # from META
        self.count = 0  # keys read
        self.expired = 0  # keys skipped as expired
        self.keys: int | None = None  # from END
        # The aggregate being built: code, key, deadline, items (None once skipped).
        self.open: tuple[int, bytes, int | None, Any] | None = None

    def take(self, payload: bytes) -> None:
        block = msgpack.unpackb(payload, raw=False, use_list=True)
        if type(block) is not list or not block:
            raise TypeError(f"a block holds {type(block).__name__}, not an array of records")
        if self.keys is not None:
            raise ValueError("a block follows END")
        if self.created_ms < 0:
            self._meta(block[0])
            block = block[1:]
        self._strings_and_more(block)

    def _strings_and_more(self, block: list[Any]) -> None:
        db, now = self.db, self.now_ms
        data, expires = db.data, db.expires
        memory = 0
        for index, record in enumerate(block):
            code = record[0]
            if code == MORE and self.open is not None:
                self._more(record[1])
                continue
            if self.open is not None:
                self._close()
            if code != STRING:
                self._other(code, record, index == len(block) - 1)
                continue
            _, key, deadline, value = record
            self.count += 1
            if type(key) is not bytes or key in data:
                raise ValueError(f"a key is {type(key).__name__} or appears twice: {key!r:.64}")
            if deadline is not None:
                if type(deadline) is not int:
                    raise TypeError(f"a deadline is {type(deadline).__name__}, not int or nil")
                if now is not None and deadline < now:
                    self.expired += 1
                    continue
                expires[key] = deadline
            if type(value) is not bytes and type(value) is not int:
                raise TypeError(f"a string value is {type(value).__name__}, not bin or int")
            data[key] = value
            memory += key_cost(key) + value_cost(value)
        db.used_memory += memory

    def _meta(self, record: Any) -> None:
        if type(record) is not list or record[0] != META or type(record[1]) is not int:
            raise ValueError(f"the first record is {record!r:.64}, not META")
        self.created_ms = record[1]

    def _other(self, code: Any, record: list[Any], last: bool) -> None:
        if code in _AGGREGATES and len(record) == 4:
            _, key, deadline, items = record
            self.count += 1
            if type(key) is not bytes or key in self.db.data:
                raise ValueError(f"a key is {type(key).__name__} or appears twice: {key!r:.64}")
            if deadline is not None and type(deadline) is not int:
                raise TypeError(f"a deadline is {type(deadline).__name__}, not int or nil")
            items = _checked(items)
            if self.now_ms is not None and deadline is not None and deadline < self.now_ms:
                self.expired += 1
                items = None
            self.open = (code, key, deadline, items)
        elif code == END and last and len(record) == 2:
            if record[1] != self.count:
                raise ValueError(f"END counts {record[1]!r} keys but the file holds {self.count}")
            self.keys = self.count
        else:
            raise ValueError(f"a record with code {code!r} is out of place")

    def _more(self, items: Any) -> None:
        assert self.open is not None
        kept = self.open[3]
        if kept is not None:
            kept.extend(_checked(items))

    def _close(self) -> None:
        """The open aggregate is complete: build its value and add it (rule 5)."""
        assert self.open is not None
        code, key, deadline, items = self.open
        self.open = None
        if items is None:  # expired
            return
        value: Any
        if code == LIST:
            value = deque(items)
        elif code == SET:
            value = set(items)
        elif code == HASH:
            value = _pairs_to_dict(items)
        else:
            value = _zset(items)
        self.db.add(key, value)
        if deadline is not None:
            self.db.expires[key] = deadline


_AGGREGATES = (LIST, SET, HASH, ZSET_)


def _checked(items: Any) -> list[Any]:
    if type(items) is not list or not items:
        raise TypeError(f"an aggregate's items are {type(items).__name__}, not a non-empty array")
    return items


def _pairs_to_dict(flat: list[bytes]) -> dict[bytes, bytes]:
    if len(flat) % 2:
        raise ValueError("a hash has a field without a value")
    items = iter(flat)
    return dict(zip(items, items, strict=True))


def _zset(flat: list[Any]) -> ZSet:
    if len(flat) % 2:
        raise ValueError("a sorted set has a member without a score")
    zset = ZSet.for_first_member(flat[0])
    items = iter(flat)
    for member, score in zip(items, items, strict=True):
        zset.add(member, float(score))
    return zset


def _read(path: str, loader: _Loader) -> SnapshotReport:
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            keys, created_ms = _read_stream(stream, path, size, loader)
    except OSError as error:
        raise PersistenceError(f"cannot read the snapshot {path}: {error}") from error
    return SnapshotReport(path, keys, size, created_ms, loader.expired)


def _read_stream(stream: BinaryIO, path: str, size: int, loader: _Loader) -> tuple[int, int]:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size or header[:4] != MAGIC:
        raise corrupt(path, 0, f"not a queuekit snapshot (it starts {header[:8]!r})")
    _, version = HEADER.unpack(header)
    if version != VERSION:
        raise corrupt(path, 4, f"format version {version}; this queuekit reads {VERSION}")
    for offset, payload in _blocks(stream, path, size):
        try:
            loader.take(payload)
        except (TypeError, ValueError, IndexError, msgpack.UnpackException) as error:
            raise corrupt(path, offset, f"a malformed record in the block there: {error}") from None
        if loader.keys is not None:
            if offset + BLOCK_HEADER.size + len(payload) != size:
                raise corrupt(path, offset, "bytes follow the END block")
            return loader.keys, loader.created_ms
    raise corrupt(path, size, "the file ends before its END record (truncated)")


def _blocks(stream: BinaryIO, path: str, size: int) -> Iterator[tuple[int, bytes]]:
    """(offset, payload) of each block whose checksum matches (rule 1)."""
    offset = HEADER.size
    while offset < size:
        frame = stream.read(BLOCK_HEADER.size)
        if len(frame) < BLOCK_HEADER.size:
            raise corrupt(path, offset, "the file ends inside a block header (truncated)")
        length, crc = BLOCK_HEADER.unpack(frame)
        end = offset + BLOCK_HEADER.size + length
        if length == 0 or end > size:
            left = size - offset - BLOCK_HEADER.size
            raise corrupt(
                path,
                offset,
                f"a block of {length} bytes does not fit in the {left} bytes left "
                "(truncated, or its length is damaged)",
            )
        payload = stream.read(length)
        if zlib.crc32(payload) != crc:
            raise corrupt(path, offset, f"the {length}-byte block there fails its checksum")
        yield offset, payload
        offset = end
