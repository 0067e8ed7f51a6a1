"""Loading an AOF: exact replays, loading mode, downtime, truncation, corruption, check-aof."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from queuekit.cli import main
from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.engine.replies import Blocked
from queuekit.engine.session import Session
from queuekit.errors import CorruptFileError
from queuekit.persistence.loader import check_aof, load
from queuekit.persistence.propagate import Propagation
from queuekit.resp.encoder import encode_command
from tests.persistence.support import START_MS, Recorder, dataset, replay


def frames(*commands: tuple[bytes, ...]) -> bytes:
    return b"".join(encode_command(argv) for argv in commands)


GOOD = frames((b"SET", b"a", b"1"), (b"RPUSH", b"q", b"x", b"y"), (b"INCR", b"n"))


# -- exact replays ------------------------------------------------------------------


def test_spop_replays_the_members_it_popped(tmp_path: Path) -> None:
    """SPOP from a large set replays as the same removals, not as a new random draw."""
    recorder = Recorder()
    recorder("SADD", "s", *range(50))
    for _ in range(5):
        recorder("SPOP", "s")
    recorder("SPOP", "s", 10)
    replayed, _ = replay(recorder.log, recorder.clock.now_ms(), tmp_path)
    assert dataset(replayed) == dataset(recorder.engine)


def test_a_pop_served_later_replays_on_the_key_that_served_it(tmp_path: Path) -> None:
    """A parked BLPOP on two keys, served by a push to the second, replays as LPOP of that key."""
    recorder = Recorder()
    recorder("RPUSH", "a", "keep")
    parked = recorder("BLPOP", "empty", "b", 0, session=Session())
    assert type(parked) is Blocked
    recorder.engine.block(parked, lambda reply: None)
    recorder("RPUSH", "b", "x", "y")
    recorder("RPUSH", "empty", "z")
    replayed, _ = replay(recorder.log, recorder.clock.now_ms(), tmp_path)
    assert dataset(replayed) == dataset(recorder.engine)
    assert replayed.db.data[b"b"] == recorder.db.data[b"b"]


def test_relative_ttls_replay_to_the_same_deadlines_much_later(tmp_path: Path) -> None:
    """EXPIRE, SETEX and SET PX set at different times replay to the deadlines they set."""
    recorder = Recorder()
    recorder("SET", "a", "1")
    recorder.clock.advance(5)
    recorder("EXPIRE", "a", 100)
    recorder.clock.advance(5)
    recorder("SETEX", "b", 100, "v")
    recorder("SET", "c", "v", "PX", 100_000)
    replayed, _ = replay(recorder.log, recorder.clock.now_ms() + 50_000, tmp_path)
    assert replayed.db.expires == {
        b"a": START_MS + 105_000,
        b"b": START_MS + 110_000,
        b"c": START_MS + 110_000,
    }


def test_replay_does_not_expire_keys_that_commands_still_used(tmp_path: Path) -> None:
    """Loading mode: a replayed write sees a key that was live then, though its deadline passed."""
    recorder = Recorder()
    recorder("SET", "k", "v", "PX", 1000)
    recorder.clock.advance(ms=500)
    recorder("APPEND", "k", "x")
    recorder("PERSIST", "k")
    replayed, _ = replay(recorder.log, recorder.clock.now_ms() + 60_000, tmp_path)
    assert replayed.db.data == {b"k": b"vx"}


def test_a_copy_that_expired_at_once_replays_as_gone(tmp_path: Path) -> None:
    """COPY of a key whose deadline is now: the engine drops the copy, and so does the replay."""
    recorder = Recorder()
    recorder("SET", "k", "v", "PX", 100)
    recorder.clock.advance(ms=100)
    assert recorder("COPY", "k", "d") == 1
    replayed, _ = replay(recorder.log, recorder.clock.now_ms(), tmp_path)
    assert dataset(replayed) == dataset(recorder.engine)


def test_a_key_that_expired_while_down_does_not_come_back(tmp_path: Path) -> None:
    """A TTL that passed between the last write and the load leaves the key gone."""
    recorder = Recorder()
    recorder("SET", "short", "v", "EX", 10)
    recorder("SET", "long", "v", "EX", 1000)
    recorder("LPUSH", "q", "job")
    recorder("EXPIRE", "q", 30)
    recorder.clock.advance(60)  # the server is down for a minute
    replayed, report = replay(recorder.log, recorder.clock.now_ms(), tmp_path)
    assert set(replayed.db.data) == {b"long"}
    assert report.expired_keys == 2


def test_keys_expired_at_load_are_propagated_as_del(tmp_path: Path) -> None:
    """With a propagator attached, keys a load finds expired are logged as DEL for the next file."""
    path = tmp_path / "a.aof"
    path.write_bytes(
        frames((b"SET", b"k", b"v", b"PXAT", b"%d" % (START_MS - 1)), (b"SET", b"x", b"1"))
    )
    engine = Engine(FakeClock(START_MS))
    propagation = Propagation(engine)
    propagation.attach()
    load(path, engine)
    assert propagation.take() == frames((b"DEL", b"k"))


def test_load_does_not_evict_or_log_what_it_replays(tmp_path: Path) -> None:
    """Replayed commands are not propagated again and maxmemory is restored after the load."""
    path = tmp_path / "a.aof"
    path.write_bytes(GOOD)
    engine = Engine(FakeClock(START_MS), maxmemory=1, maxmemory_policy="allkeys-random")
    propagation = Propagation(engine)
    propagation.attach()
    report = load(path, engine)
    assert (report.commands, report.valid_bytes, report.truncated_at) == (3, len(GOOD), None)
    assert set(engine.db.data) == {b"a", b"q", b"n"}
    assert propagation.take() == b""
    assert engine.maxmemory == 1 and engine.propagator is propagation


# -- truncated tails ----------------------------------------------------------------------

TAIL = encode_command((b"SET", b"last", b"value"))


@pytest.mark.parametrize("cut", [1, 4, 9, 15, len(TAIL) - 1], ids=lambda cut: f"cut{cut}")
def test_a_truncated_last_command_is_dropped_with_a_warning(tmp_path: Path, cut: int) -> None:
    """A file ending inside its last command loads the rest and warns with the tail's offset."""
    path = tmp_path / "a.aof"
    content = GOOD + TAIL[:cut]
    path.write_bytes(content)
    engine = Engine(FakeClock(START_MS))
    with capture_logs() as logs:
        report = load(path, engine)
    assert report.truncated_at == len(GOOD) and report.commands == 3
    assert b"last" not in engine.db.data and engine.db.data[b"a"] == b"1"
    assert logs == [
        {
            "event": "aof_truncated_tail_dropped",
            "log_level": "warning",
            "path": str(path),
            "offset": len(GOOD),
            "dropped_bytes": cut,
            "reason": "the file ends inside its last command (or transaction)",
        }
    ]
    assert path.read_bytes() == content  # loading never modifies the file


def test_a_transaction_without_its_exec_is_dropped_whole(tmp_path: Path) -> None:
    """A file that ends after MULTI and some commands but before EXEC applies none of them."""
    path = tmp_path / "a.aof"
    path.write_bytes(GOOD + frames((b"MULTI",), (b"SET", b"t", b"1"), (b"INCR", b"n")))
    engine = Engine(FakeClock(START_MS))
    report = load(path, engine)
    assert report.truncated_at == len(GOOD)
    assert b"t" not in engine.db.data and engine.db.data[b"n"] == 1


# -- corruption ----------------------------------------------------------------------------

CORRUPTIONS = {
    "not-an-array": (b"+OK\r\n", 0, "expected '*'"),
    "bad-count": (b"*x\r\n", 0, "is not a count"),
    "zero-count": (b"*0\r\n", 0, "at least 1"),
    "not-a-bulk": (b"*1\r\n:1\r\n", 4, "expected '$'"),
    "bad-length": (b"*1\r\n$-3\r\n", 4, "is not a count"),
    "no-crlf-after-data": (b"*1\r\n$4\r\nPINGxx\r\n", 12, "not followed by CRLF"),
    "lf-only": (b"*1\n$4\r\nPING\r\n", 0, "without CRLF"),
    "unknown-command": (encode_command((b"NOPE", b"x")), 0, "unknown command 'NOPE'"),
}


@pytest.mark.parametrize(("bad", "at", "reason"), CORRUPTIONS.values(), ids=list(CORRUPTIONS))
def test_corruption_mid_file_refuses_to_load_naming_file_and_offset(
    tmp_path: Path, bad: bytes, at: int, reason: str
) -> None:
    """Corruption followed by more data raises CorruptFileError with the path and byte offset."""
    path = tmp_path / "a.aof"
    content = GOOD + bad + GOOD
    path.write_bytes(content)
    with pytest.raises(CorruptFileError) as raised:
        load(path, Engine(FakeClock(START_MS)))
    assert raised.value.offset == len(GOOD) + at
    assert raised.value.path == str(path)
    message = str(raised.value)
    assert str(path) in message and f"byte offset {len(GOOD) + at}" in message
    assert reason in message
    assert path.read_bytes() == content


def test_garbage_at_the_end_is_corruption_not_truncation(tmp_path: Path) -> None:
    """A malformed last command (not merely cut short) is corruption, as Redis has it."""
    path = tmp_path / "a.aof"
    path.write_bytes(GOOD + b"*1\r\n$4\r\nPINGxx")
    with pytest.raises(CorruptFileError, match=f"byte offset {len(GOOD) + 12}"):
        load(path, Engine(FakeClock(START_MS)))


# -- check-aof -----------------------------------------------------------------------------


def test_check_aof_reports_a_valid_file(tmp_path: Path) -> None:
    """A valid file is reported ok with its command count and is left alone by --fix."""
    path = tmp_path / "a.aof"
    path.write_bytes(GOOD)
    report = check_aof(path, fix=True)
    assert (report.status, report.commands, report.fixed) == ("ok", 3, False)
    assert path.read_bytes() == GOOD


@pytest.mark.parametrize(
    ("tail", "status"),
    [
        (TAIL[:7], "truncated"),
        (b"*1\r\n$4\r\nPINGxx" + GOOD, "corrupt"),
        (frames((b"MULTI",), (b"INCR", b"n")), "truncated"),
    ],
    ids=["truncated", "corrupt", "open-multi"],
)
def test_check_aof_reports_then_fixes_by_truncating(
    tmp_path: Path, tail: bytes, status: str
) -> None:
    """check_aof names the problem and offset; with fix the file ends at the last valid command."""
    path = tmp_path / "a.aof"
    path.write_bytes(GOOD + tail)
    report = check_aof(path)
    assert (report.status, report.valid_bytes, report.commands, report.fixed) == (
        status,
        len(GOOD),
        3,
        False,
    )
    assert f"byte offset {len(GOOD)}" in report.describe()
    assert path.read_bytes() == GOOD + tail
    fixed = check_aof(path, fix=True)
    assert fixed.fixed and path.read_bytes() == GOOD
    assert check_aof(path).status == "ok"


def test_check_aof_cli_exit_codes_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`queuekit check-aof` fails on a bad file, and `--fix` truncates it and succeeds."""
    path = tmp_path / "a.aof"
    path.write_bytes(GOOD + TAIL[:5])
    assert main(["check-aof", str(path)]) == 1
    out = capsys.readouterr().out
    assert "truncated at byte offset" in out and "--fix" in out
    assert main(["check-aof", "--fix", str(path)]) == 0
    assert path.read_bytes() == GOOD
    assert main(["check-aof", str(path)]) == 0
    assert "is valid: 3 commands" in capsys.readouterr().out
