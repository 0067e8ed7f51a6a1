"""The snapshot file: every type round trips, TTLs as deadlines, damage refused by offset."""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest

from queuekit.cli import main
from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.engine.zset import ZSet
from queuekit.errors import CorruptFileError, PersistenceError
from queuekit.persistence import snapshot
from queuekit.persistence.snapshot import (
    BLOCK_HEADER,
    CHUNK_ITEMS,
    HEADER,
    check_snapshot,
    load_snapshot,
    write_snapshot,
)
from tests.engine.support import assert_memory_exact
from tests.persistence.support import START_MS, Recorder, dataset


def loaded(recorder: Recorder, tmp_path: Path, *, at_ms: int | None = None) -> Engine:
    """The recorder's dataset snapshotted and loaded into a fresh engine at `at_ms`."""
    path = tmp_path / "dump.qkdb"
    write_snapshot(recorder.db, path)
    engine = Engine(FakeClock(recorder.clock.now_ms() if at_ms is None else at_ms))
    load_snapshot(path, engine)
    return engine


def every_type() -> Recorder:
    recorder = Recorder()
    recorder("SET", "text", "hello")
    recorder("SET", "empty", "")
    recorder("SET", b"\x00bin\xffkey\r\n", b"\x00\xff\x80")
    recorder("INCRBY", "counter", 42)
    recorder("RPUSH", "list", "a", "b", "", "a")
    recorder("SADD", "set", "x", "y", "", "z")
    recorder("HSET", "hash", "f1", "v1", "f2", "", "", "empty field")
    recorder("ZADD", "zset", "1.5", "m1", "-3", "m2", "0.1", "m3", "1e300", "m4")
    recorder("ZADD", "zset", "inf", "top", "-inf", "bottom", "0", "")
    recorder("EXPIRE", "list", 100)
    recorder("PEXPIRE", "counter", 12_345)
    recorder("PEXPIREAT", "text", START_MS + 10**9)
    return recorder


def test_every_type_round_trips_exactly(tmp_path: Path) -> None:
    """Strings, counters, lists, sets, hashes and sorted sets come back equal, with deadlines."""
    recorder = every_type()
    engine = loaded(recorder, tmp_path)
    assert dataset(engine) == dataset(recorder.engine)
    assert engine.db.expires == recorder.db.expires
    assert list(engine.db.data) == list(recorder.db.data)  # the keyspace's order too
    assert_memory_exact(engine.db)


def test_a_counter_stays_an_int_and_a_numeric_string_stays_bytes(tmp_path: Path) -> None:
    """INCR's int comes back an int, SET's digits bytes, the int64 limits included."""
    recorder = Recorder()
    recorder("INCRBY", "low", -(2**63))
    recorder("INCRBY", "high", 2**63 - 1)
    recorder("INCR", "one")
    recorder("SET", "digits", "7")
    engine = loaded(recorder, tmp_path)
    assert engine.db.data == {b"low": -(2**63), b"high": 2**63 - 1, b"one": 1, b"digits": b"7"}
    assert [type(value) for value in engine.db.data.values()] == [int, int, int, bytes]


def test_big_aggregates_and_big_values_cross_records_and_blocks(tmp_path: Path) -> None:
    """A list, set, hash and sorted set of many chunks, and a value bigger than a block."""
    recorder = Recorder()
    count = 3 * CHUNK_ITEMS + 7
    db = recorder.db
    db.add(b"list", deque(b"e%d" % i for i in range(100_000)))
    db.add(b"set", {b"m%d" % i for i in range(count)})
    db.add(b"hash", {b"f%d" % i: b"v%d" % i for i in range(count)})
    zset = ZSet()
    for i in range(count):
        db.used_memory += zset.add(b"z%d" % i, i / 7)
    db.add(b"zset", zset)
    db.add(b"huge", b"x" * (3 * snapshot.BLOCK_BYTES))
    recorder("RPUSH", "list-of-huge", b"y" * snapshot.BLOCK_BYTES, "small")
    engine = loaded(recorder, tmp_path)
    assert dataset(engine) == dataset(recorder.engine)
    assert list(engine.db.data[b"list"])[:3] == [b"e0", b"e1", b"e2"]
    assert_memory_exact(engine.db)


def test_a_small_sorted_set_is_compact_again_and_a_big_one_is_not(tmp_path: Path) -> None:
    """As Redis converts a small sorted set back to a listpack when it loads one."""
    recorder = Recorder()
    recorder("ZADD", "small", *[x for i in range(10) for x in (i, f"m{i}")])
    recorder("ZADD", "big", *[x for i in range(200) for x in (i, f"m{i}")])
    recorder("ZADD", "long-member", "1", "m" * 100)
    engine = loaded(recorder, tmp_path)
    compact = {key: value.compact for key, value in engine.db.data.items()}
    assert compact == {b"small": True, b"big": False, b"long-member": False}


def test_deadlines_are_absolute_and_a_key_expired_while_down_is_not_loaded(
    tmp_path: Path,
) -> None:
    """Loaded later, a key keeps its deadline; one whose deadline passed is skipped, counted."""
    recorder = Recorder()
    recorder("SET", "soon", "v", "PX", 1_000)
    recorder("SET", "later", "v", "PX", 60_000)
    recorder("RPUSH", "list-soon", "a")
    recorder("PEXPIRE", "list-soon", 1_000)
    recorder("SET", "forever", "v")
    path = tmp_path / "dump.qkdb"
    write_snapshot(recorder.db, path)
    engine = Engine(FakeClock(START_MS + 30_000))  # "down" for 30 s
    report = load_snapshot(path, engine)
    assert set(engine.db.data) == {b"later", b"forever"}
    assert engine.db.expires == {b"later": START_MS + 60_000}
    assert (report.keys, report.expired_keys) == (4, 2)
    assert_memory_exact(engine.db)


def test_an_aof_base_keeps_expired_keys_for_the_commands_after_it(tmp_path: Path) -> None:
    """skip_expired=False loads every key with its deadline, due or not."""
    recorder = Recorder()
    recorder("SET", "soon", "v", "PX", 1_000)
    recorder("SADD", "set-soon", "m")
    recorder("PEXPIRE", "set-soon", 1_000)
    path = tmp_path / "dump.qkdb"
    write_snapshot(recorder.db, path)
    engine = Engine(FakeClock(START_MS + 30_000))
    report = load_snapshot(path, engine, skip_expired=False)
    assert set(engine.db.data) == {b"soon", b"set-soon"} and report.expired_keys == 0
    assert engine.db.expires == recorder.db.expires


def test_an_empty_dataset_round_trips(tmp_path: Path) -> None:
    """A snapshot of nothing is a valid file that loads nothing."""
    engine = loaded(Recorder(), tmp_path)
    assert engine.db.data == {}
    assert check_snapshot(tmp_path / "dump.qkdb").keys == 0


def test_loading_into_an_engine_that_holds_keys_is_refused(tmp_path: Path) -> None:
    """A snapshot fills an empty engine; a non-empty one is a ValueError naming its size."""
    recorder = every_type()
    path = tmp_path / "dump.qkdb"
    write_snapshot(recorder.db, path)
    with pytest.raises(ValueError, match=f"holds {len(recorder.db.data)}"):
        load_snapshot(path, recorder.engine)


def test_the_documented_format_reads_back_with_struct_and_msgpack(tmp_path: Path) -> None:
    """A reader written from the module docstring alone sees META, every key, then END."""
    recorder = every_type()
    recorder.db.add(b"long", deque(b"%d" % i for i in range(CHUNK_ITEMS + 1)))
    path = tmp_path / "dump.qkdb"
    write_snapshot(recorder.db, path)
    data = path.read_bytes()
    assert data[:8] == b"QKDB" + struct.pack(">I", 1)
    records: list[Any] = []
    offset = 8
    while offset < len(data):
        length, crc = struct.unpack(">II", data[offset : offset + 8])
        payload = data[offset + 8 : offset + 8 + length]
        assert zlib.crc32(payload) == crc
        records.extend(msgpack.unpackb(payload))
        offset += 8 + length
    assert records[0][0] == 0 and abs(records[0][1] - START_MS) < 10**12  # META, created_ms
    assert records[-1] == [7, len(recorder.db.data)]  # END
    by_key = {record[1]: record for record in records if 1 <= record[0] <= 5}
    assert by_key[b"counter"] == [1, b"counter", START_MS + 12_345, 42]
    assert by_key[b"text"] == [1, b"text", START_MS + 10**9, b"hello"]
    assert by_key[b"list"] == [2, b"list", START_MS + 100_000, [b"a", b"b", b"", b"a"]]
    assert by_key[b"hash"][3] == [b"f1", b"v1", b"f2", b"", b"", b"empty field"]
    assert by_key[b"zset"][3][:4] == [b"bottom", float("-inf"), b"m2", -3.0]
    assert len(by_key[b"long"][3]) == CHUNK_ITEMS
    more = records[records.index(by_key[b"long"]) + 1]
    assert more == [6, [b"%d" % CHUNK_ITEMS]]  # MORE: the rest of "long"


# -- damage --------------------------------------------------------------------------


def many_keys(prefix: bytes = b"key") -> Recorder:
    """20,000 string keys: a snapshot of several blocks."""
    recorder = Recorder()
    for i in range(20_000):
        recorder.db.add(b"%s:%d" % (prefix, i), b"value:%d" % i)
    return recorder


def written(tmp_path: Path) -> tuple[Path, bytes, list[int]]:
    """A snapshot of several blocks: its path, bytes and the offsets of its blocks."""
    path = tmp_path / "dump.qkdb"
    write_snapshot(many_keys().db, path)
    data = path.read_bytes()
    offsets, offset = [], HEADER.size
    while offset < len(data):
        offsets.append(offset)
        offset += BLOCK_HEADER.size + BLOCK_HEADER.unpack_from(data, offset)[0]
    assert len(offsets) > 3
    return path, data, offsets


def refused(path: Path) -> CorruptFileError:
    with pytest.raises(CorruptFileError) as caught:
        load_snapshot(path, Engine())
    error = caught.value
    assert str(path) in str(error) and f"byte offset {error.offset}" in str(error)
    with pytest.raises(CorruptFileError) as checked:
        check_snapshot(path)
    assert checked.value.offset == error.offset
    return error


def test_a_truncated_file_is_refused_at_the_block_it_cuts(tmp_path: Path) -> None:
    """Cut inside a block, the error names that block's offset; the file is left as it was."""
    path, data, offsets = written(tmp_path)
    middle = offsets[len(offsets) // 2]
    path.write_bytes(data[: middle + 100])
    error = refused(path)
    assert error.offset == middle and "truncated" in error.reason
    assert path.read_bytes() == data[: middle + 100]


def test_a_file_cut_between_blocks_is_refused_for_its_missing_end(tmp_path: Path) -> None:
    """Cut exactly at a block boundary, the missing END record is named, at the cut."""
    path, data, offsets = written(tmp_path)
    path.write_bytes(data[: offsets[-1]])
    error = refused(path)
    assert error.offset == offsets[-1] and "END" in error.reason


@pytest.mark.parametrize("where", ["payload", "length", "checksum"])
def test_a_flipped_byte_in_the_middle_is_refused_at_its_block(tmp_path: Path, where: str) -> None:
    """One flipped byte in a middle block's payload, length or checksum names that block."""
    path, data, offsets = written(tmp_path)
    block = offsets[len(offsets) // 2]
    at = {"payload": block + 8 + 1000, "length": block + 1, "checksum": block + 5}[where]
    damaged = bytearray(data)
    damaged[at] ^= 0x40
    path.write_bytes(damaged)
    assert refused(path).offset == block


def test_bytes_after_the_end_are_refused(tmp_path: Path) -> None:
    """Anything after the END block is damage, not ignored."""
    path, data, _ = written(tmp_path)
    path.write_bytes(data + b"\x00")
    assert "follow the END" in refused(path).reason


def test_a_file_that_is_not_a_snapshot_or_too_new_is_refused_at_its_start(
    tmp_path: Path,
) -> None:
    """Another file's magic is refused at offset 0; a newer format version at offset 4."""
    path = tmp_path / "dump.qkdb"
    path.write_bytes(b"REDIS0011...")
    assert refused(path).offset == 0
    path.write_bytes(b"QKDB" + struct.pack(">I", 2))
    error = refused(path)
    assert error.offset == 4 and "version 2" in error.reason


def test_a_valid_checksum_over_bad_records_is_still_refused(tmp_path: Path) -> None:
    """A block whose records break the format (a key twice) is refused at that block."""
    path = tmp_path / "dump.qkdb"
    records = [[0, START_MS], [1, b"k", None, b"v"], [1, b"k", None, b"w"], [7, 2]]
    payload = msgpack.packb(records)
    path.write_bytes(
        HEADER.pack(b"QKDB", 1) + BLOCK_HEADER.pack(len(payload), zlib.crc32(payload)) + payload
    )
    error = refused(path)
    assert error.offset == HEADER.size and "appears twice" in error.reason


def test_an_unreadable_file_is_a_persistence_error_naming_it(tmp_path: Path) -> None:
    """A missing file is a PersistenceError with its path, not a bare OSError."""
    with pytest.raises(PersistenceError, match=r"missing\.qkdb"):
        load_snapshot(tmp_path / "missing.qkdb", Engine())


# -- writing ---------------------------------------------------------------------------


def test_a_failed_write_leaves_the_previous_snapshot_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails midway raises PersistenceError; the old file is whole, no temp left."""
    path, data, _ = written(tmp_path)
    real_write = snapshot._BlockWriter.flush
    calls = 0

    def failing_flush(self: snapshot._BlockWriter) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")
        real_write(self)

    monkeypatch.setattr(snapshot._BlockWriter, "flush", failing_flush)
    with pytest.raises(PersistenceError, match="No space left"):
        write_snapshot(many_keys(b"new").db, path)
    assert calls == 3
    assert path.read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["dump.qkdb"]


def test_a_write_leaves_only_the_final_file(tmp_path: Path) -> None:
    """After a write the directory holds dump.qkdb and no temp file; the report counts keys."""
    report = write_snapshot(every_type().db, tmp_path / "dump.qkdb")
    assert os.listdir(tmp_path) == ["dump.qkdb"]
    assert report.keys == len(every_type().db.data)
    assert report.file_bytes == (tmp_path / "dump.qkdb").stat().st_size
    assert (
        check_snapshot(tmp_path / "dump.qkdb")
        .describe()
        .startswith(f"snapshot {tmp_path / 'dump.qkdb'} is valid: {report.keys} keys")
    )


@pytest.mark.slow
def test_a_million_keys_round_trip_with_their_ttls(tmp_path: Path) -> None:
    """1M keys of every kind, a quarter with deadlines, load back identical."""
    recorder = Recorder()
    db = recorder.db
    for i in range(1_000_000):
        key = b"key:%d" % i
        kind = i % 10
        if kind < 6:
            db.add(key, b"value:%d" % i)
        elif kind < 8:
            db.add(key, i)
        elif kind == 8:
            db.add(key, deque((b"a", b"b%d" % i)))
        else:
            db.add(key, {b"f": b"%d" % i})
        if i % 4 == 0:
            db.expires[key] = START_MS + 1_000 + i
    engine = loaded(recorder, tmp_path)
    assert engine.db.data == db.data
    assert engine.db.expires == db.expires
    assert engine.db.used_memory == db.used_memory


# -- queuekit check-snapshot ------------------------------------------------------------


def test_check_snapshot_reports_a_valid_file_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid file: exit 0 and one line with its key count."""
    path = tmp_path / "dump.qkdb"
    write_snapshot(every_type().db, path)
    assert main(["check-snapshot", str(path)]) == 0
    assert f"is valid: {len(every_type().db.data)} keys" in capsys.readouterr().out


def test_check_snapshot_names_the_offset_of_damage_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A truncated file: exit 1 and the message names file and offset; the file is untouched."""
    path, data, offsets = written(tmp_path)
    path.write_bytes(data[: offsets[1] + 10])
    assert main(["check-snapshot", str(path)]) == 1
    assert f"{path} at byte offset {offsets[1]}" in capsys.readouterr().out
    assert path.read_bytes() == data[: offsets[1] + 10]
