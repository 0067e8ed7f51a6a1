"""The rewrite's base file: the dataset as commands that rebuild it exactly, TTLs included."""

from __future__ import annotations

import io
import os
from collections import deque
from itertools import pairwise
from pathlib import Path

import pytest

from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.engine.zset import ZSet
from queuekit.persistence.loader import check_aof, load
from queuekit.persistence.rewrite import (
    ITEMS_PER_COMMAND,
    SYNC_EVERY_BYTES,
    write_base,
    write_base_file,
)
from tests.persistence.support import START_MS, Recorder, commands_of, dataset


def rebuilt(recorder: Recorder, tmp_path: Path) -> Engine:
    """The recorder's dataset written as a base file and loaded into a fresh engine."""
    path = tmp_path / "base.aof"
    write_base_file(path, recorder.db)
    engine = Engine(FakeClock(recorder.clock.now_ms()))
    load(path, engine)
    return engine


def base_commands(recorder: Recorder) -> list[list[bytes]]:
    stream = io.BytesIO()
    write_base(recorder.db, stream)
    return commands_of(stream.getvalue())


def test_every_type_round_trips_exactly(tmp_path: Path) -> None:
    """Strings, counters, lists, sets, hashes and sorted sets come back equal, with their TTLs."""
    recorder = Recorder()
    recorder("SET", "text", "hello")
    recorder("SET", "empty", "")
    recorder("INCRBY", "counter", 42)
    recorder("RPUSH", "list", "a", "b", "", "a")
    recorder("SADD", "set", "x", "y", "z")
    recorder("HSET", "hash", "f1", "v1", "f2", "")
    recorder("ZADD", "zset", "1.5", "m1", "-3", "m2", "0.1", "m3", "1e300", "m4")
    recorder("EXPIRE", "list", 100)
    recorder("PEXPIRE", "counter", 12_345)
    engine = rebuilt(recorder, tmp_path)
    assert dataset(engine) == dataset(recorder.engine)
    assert engine.db.expires == recorder.db.expires


def test_a_counter_stays_an_int_and_a_numeric_string_stays_bytes(tmp_path: Path) -> None:
    """INCR's int is rebuilt as an int (INCRBY), SET's digits as bytes, the int64 limits too."""
    recorder = Recorder()
    recorder("INCRBY", "low", -(2**63))
    recorder("INCRBY", "high", 2**63 - 1)
    recorder("INCR", "one")
    recorder("SET", "digits", "7")
    engine = rebuilt(recorder, tmp_path)
    assert engine.db.data == {b"low": -(2**63), b"high": 2**63 - 1, b"one": 1, b"digits": b"7"}
    assert [type(value) for value in engine.db.data.values()] == [int, int, int, bytes]


def test_infinite_and_tiny_scores_read_back_as_the_same_floats(tmp_path: Path) -> None:
    """-inf, inf, -0.0, 5e-324 and 0.1 come back bit for bit, in the same order."""
    recorder = Recorder()
    recorder("ZADD", "z", "-inf", "low", "+inf", "high", "-0", "negzero", "5e-324", "tiny")
    recorder("ZADD", "z", "0.1", "tenth", "2.5e-17", "small")
    engine = rebuilt(recorder, tmp_path)
    original, copy = recorder.db.data[b"z"], engine.db.data[b"z"]
    assert isinstance(copy, ZSet)
    assert [(score.hex(), member) for score, member in copy] == [
        (score.hex(), member) for score, member in original
    ]


def test_binary_keys_and_values_survive(tmp_path: Path) -> None:
    """Keys and elements with CR, LF, NUL and non-UTF-8 bytes are written as bulk strings."""
    recorder = Recorder()
    key = b"\r\n*3\r\n$3\r\nSET\x00\xff"
    recorder("SET", key, b"\x00\r\n\xfe")
    recorder("RPUSH", b"l\n", b"\r\n", b"\x00")
    recorder("HSET", b"h\xff", b"\r", b"\n")
    recorder("EXPIRE", key, 50)
    engine = rebuilt(recorder, tmp_path)
    assert dataset(engine) == dataset(recorder.engine)


def test_a_list_of_ten_thousand_items_is_chunked_in_order(tmp_path: Path) -> None:
    """A 10,000-item list becomes RPUSHes of at most 64 items and rebuilds in order."""
    recorder = Recorder()
    items = [b"item-%d" % n for n in range(10_000)]
    for start in range(0, len(items), 1000):
        recorder("RPUSH", "big", *items[start : start + 1000])
    commands = base_commands(recorder)
    assert [len(command) - 2 for command in commands] == [ITEMS_PER_COMMAND] * 156 + [16]
    assert {command[0] for command in commands} == {b"RPUSH"}
    engine = rebuilt(recorder, tmp_path)
    assert engine.db.data[b"big"] == deque(items)


def test_big_sets_hashes_and_sorted_sets_are_chunked_by_elements(tmp_path: Path) -> None:
    """SADD, HSET and ZADD carry at most 64 members, fields or pairs each."""
    recorder = Recorder()
    recorder("SADD", "s", *range(100))
    recorder("HSET", "h", *[part for n in range(100) for part in (f"f{n}", n)])
    recorder("ZADD", "z", *[part for n in range(100) for part in (n, f"m{n}")])
    sizes = {}
    for command in base_commands(recorder):
        sizes.setdefault(command[0], []).append(len(command) - 2)
    assert sizes == {b"SADD": [64, 36], b"HSET": [128, 72], b"ZADD": [128, 72]}
    assert dataset(rebuilt(recorder, tmp_path)) == dataset(recorder.engine)


def test_each_key_is_its_write_then_its_deadline_as_pexpireat() -> None:
    """A key with a TTL is followed by PEXPIREAT with its absolute deadline in ms."""
    recorder = Recorder()
    recorder("SET", "k", "v", "EX", 10)
    assert base_commands(recorder) == [
        [b"SET", b"k", b"v"],
        [b"PEXPIREAT", b"k", b"%d" % (START_MS + 10_000)],
    ]


def test_keys_whose_deadline_passed_are_not_written() -> None:
    """A key expired but not yet reclaimed is skipped; one due exactly now is kept (rule 1)."""
    recorder = Recorder()
    recorder("SET", "gone", "v", "PX", 10)
    recorder("SET", "now", "v", "PX", 20)
    recorder("SET", "kept", "v")
    recorder.clock.advance(ms=20)
    written = {command[1] for command in base_commands(recorder)}
    assert written == {b"now", b"kept"}


def test_an_empty_dataset_is_an_empty_valid_file(tmp_path: Path) -> None:
    """The base of a fresh directory: zero bytes, which check-aof calls valid."""
    path = tmp_path / "base.aof"
    assert write_base_file(path, Engine(FakeClock(START_MS)).db) == 0
    assert path.read_bytes() == b""
    assert check_aof(path).status == "ok"


def test_a_big_base_is_fsynced_as_it_grows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """About every 4 MB written the file is fsynced, not only once at the end (rule 6)."""
    engine = Engine(FakeClock(START_MS))
    value = b"v" * 100
    for n in range(100_000):
        engine.db.data[b"key:%d" % n] = value
    sizes: list[int] = []
    path = tmp_path / "base.aof"
    monkeypatch.setattr(os, "fsync", lambda fd: sizes.append(os.fstat(fd).st_size))
    write_base_file(path, engine.db)
    total = path.stat().st_size
    assert len(sizes) == total // SYNC_EVERY_BYTES + 1 and sizes[-1] == total
    assert all(
        0 < later - earlier <= SYNC_EVERY_BYTES + 200_000 for earlier, later in pairwise(sizes)
    )
