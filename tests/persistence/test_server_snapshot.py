"""Snapshots, served: SAVE, BGSAVE, LASTSAVE, save points, shutdown, crashes, damage.

Servers run as subprocesses (support.ServerProcess) with appendonly off, so
DIR/dump.qkdb is their whole durability. A slow snapshot comes from the
QUEUEKIT_KEY_SAVE_DELAY test hook (seconds the child sleeps after each key,
Redis's rdb-key-save-delay), so a test can act while one runs. Waits are
bounded by generous deadlines; nothing asserts on timing.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from queuekit.engine.errors import MISCONF
from queuekit.persistence.snapshot import SNAPSHOT_NAME, check_snapshot
from queuekit.server.snapshots import ALREADY_RUNNING, ANOTHER_CHILD, NO_DATA_DIR
from tests.persistence.support import (
    IO_TIMEOUT_S,
    Resp,
    ServerProcess,
    info,
    push_until_broken,
    running,
    strings,
    wait_for,
)
from tests.support.queuekit_server import running_server
from tests.support.redis_server import start_redis

STARTED = b"Background saving started"
SCHEDULED = b"Background saving scheduled"
SNAPSHOT_ONLY = ("--appendonly", "no")
# 400 keys at 5 ms each: a snapshot of about two seconds, longer on a loaded machine.
SLOW_KEYS = 400
SLOW_KEY_DELAY_S = "0.005"
CRASH_CYCLES = 20


def snapshotting(
    start: type[ServerProcess], data_dir: Path, save: str = "3600 1", *extra: str
) -> ServerProcess:
    """A ready server with appendonly off and the given save points."""
    return running(start, data_dir, "everysec", *SNAPSHOT_ONLY, "--save", save, *extra)


def fill(client: Resp, count: int, prefix: str = "k") -> None:
    replies = client.pipeline([("SET", f"{prefix}:{n}", n) for n in range(count)])
    assert replies == [b"OK"] * count


def saved(client: Resp, saves: int) -> dict[str, str]:
    """Wait until `saves` snapshots have started and none runs; INFO persistence then."""

    def done() -> bool:
        fields = info(client)
        return int(fields["rdb_saves"]) >= saves and fields["rdb_bgsave_in_progress"] == "0"

    wait_for(done, f"snapshot {saves} to finish")
    return info(client)


def child_pid(server: ServerProcess, nth: int = 1) -> int:
    wait_for(lambda: len(server.events("bgsave_started")) >= nth, "the snapshot child's pid")
    return int(str(server.events("bgsave_started")[nth - 1]["pid"]))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def temp_files(data_dir: Path) -> list[str]:
    return sorted(
        name for name in os.listdir(data_dir) if name.endswith(".qkdb") and name != SNAPSHOT_NAME
    )


def error_of(client: Resp, *argv: str) -> str:
    with pytest.raises(RuntimeError) as refused:
        client(*argv)
    return str(refused.value)


# -- the commands -------------------------------------------------------------------------


def test_save_writes_the_snapshot_and_lastsave_moves(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """SAVE answers OK with the file in place; LASTSAVE and INFO follow it."""
    server = snapshotting(start, data_dir)
    client = server.client()
    before = client("LASTSAVE")
    assert isinstance(before, int) and before > 0
    fill(client, 10)
    assert info(client)["rdb_changes_since_last_save"] == "10"
    time.sleep(1.1)  # LASTSAVE counts seconds
    assert client("SAVE") == b"OK"
    after = client("LASTSAVE")
    assert isinstance(after, int) and after > before
    fields = info(client)
    assert fields["rdb_changes_since_last_save"] == "0"
    assert (fields["rdb_saves"], fields["rdb_last_save_time"]) == ("1", str(after))
    assert check_snapshot(data_dir / SNAPSHOT_NAME).keys == 10
    assert temp_files(data_dir) == []
    client.close()
    assert server.stop() == 0


def test_bgsave_writes_the_snapshot_in_a_child(start: type[ServerProcess], data_dir: Path) -> None:
    """BGSAVE starts a child that writes dump.qkdb; INFO shows it running, then ok."""
    server = snapshotting(start, data_dir)
    client = server.client()
    fill(client, 100)
    assert client("BGSAVE") == STARTED
    fields = saved(client, 1)
    assert fields["rdb_last_bgsave_status"] == "ok"
    assert fields["rdb_changes_since_last_save"] == "0"
    assert int(fields["rdb_last_bgsave_time_sec"]) >= 0
    assert fields["rdb_current_bgsave_time_sec"] == "-1"
    assert check_snapshot(data_dir / SNAPSHOT_NAME).keys == 100
    assert temp_files(data_dir) == []
    assert gone(child_pid(server))
    client.close()
    assert server.stop() == 0


def snapshot_replies(client: Resp) -> list[object]:
    """BGSAVE started, then refused, SCHEDULE refused too, SAVE refused, BGSAVE inside EXEC
    refused while one runs and scheduled once none does; a syntax error; SAVE in MULTI."""
    fill(client, 5)
    replies: list[object] = [client("BGSAVE")]
    for argv in (("BGSAVE",), ("BGSAVE", "SCHEDULE"), ("SAVE",)):
        replies.append(error_of(client, *argv))
    replies += [client("MULTI"), client("BGSAVE"), client("EXEC")]
    saved(client, 1)
    replies += [client("MULTI"), client("BGSAVE"), client("EXEC")]
    saved(client, 2)
    replies.append(error_of(client, "BGSAVE", "NOW"))
    replies += [client("MULTI"), error_of(client, "SAVE"), client("DISCARD")]
    return [str(reply) if isinstance(reply, Exception) else reply for reply in _flat(replies)]


def _flat(replies: list[object]) -> list[object]:
    return [item for reply in replies for item in (reply if isinstance(reply, list) else [reply])]


@pytest.mark.redis
def test_save_and_bgsave_answer_as_redis_server_7_does(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same script gets the same replies from redis-server and from queuekit."""
    redis = start_redis("--save", "3600 1")
    try:
        client = Resp(redis.port)
        client("CONFIG", "SET", "rdb-key-save-delay", "200000")  # µs a key: about a second
        expected = snapshot_replies(client)
        client.close()
    finally:
        redis.stop()
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", "0.2")
    server = snapshotting(start, data_dir)
    client = server.client()
    assert snapshot_replies(client) == expected
    assert expected[:4] == [STARTED, ALREADY_RUNNING, ALREADY_RUNNING, ALREADY_RUNNING]
    assert SCHEDULED in expected
    client.close()
    assert server.stop() == 0


def test_bgsave_while_a_rewrite_runs_is_refused_or_scheduled(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one child slot: a plain BGSAVE is refused, BGSAVE SCHEDULE runs after the rewrite."""
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", "0.01")
    server = snapshotting(start, data_dir)
    client = server.client()
    fill(client, 100)
    assert client("BGREWRITEAOF") == b"Background append only file rewriting started"
    assert error_of(client, "BGSAVE") == ANOTHER_CHILD
    assert client("BGSAVE", "SCHEDULE") == SCHEDULED
    assert info(client)["rdb_bgsave_in_progress"] == "0"
    fields = saved(client, 1)
    assert fields["rdb_last_bgsave_status"] == "ok"
    assert fields["aof_last_bgrewrite_status"] == "ok"
    assert check_snapshot(data_dir / SNAPSHOT_NAME).keys == 100
    client.close()
    assert server.stop() == 0


def test_without_a_data_directory_snapshots_are_refused_saying_why() -> None:
    """No --data-dir: SAVE and BGSAVE name the flag that gives one; LASTSAVE still answers."""
    with running_server() as served:
        client = Resp(served.port)
        assert error_of(client, "SAVE") == NO_DATA_DIR
        assert error_of(client, "BGSAVE") == NO_DATA_DIR
        assert isinstance(client("LASTSAVE"), int)
        assert client("CONFIG", "GET", "save") == [b"save", b""]
        client.close()


def test_info_config_and_command_describe_snapshots(tmp_path: Path) -> None:
    """INFO's rdb_* fields, CONFIG GET/SET save, COMMAND INFO and DOCS of the three commands."""
    with running_server(data_dir=str(tmp_path)) as served:
        client = Resp(served.port)
        fields = info(client)
        assert {name: fields[name] for name in fields if name.startswith("rdb_")} == {
            "rdb_changes_since_last_save": "0",
            "rdb_bgsave_in_progress": "0",
            "rdb_last_save_time": fields["rdb_last_save_time"],
            "rdb_last_bgsave_status": "ok",
            "rdb_last_bgsave_time_sec": "-1",
            "rdb_current_bgsave_time_sec": "-1",
            "rdb_saves": "0",
            "rdb_last_load_keys_expired": "0",
            "rdb_last_load_keys_loaded": "0",
        }
        assert client("CONFIG", "GET", "save") == [b"save", b"3600 1 300 100 60 10000"]
        assert client("CONFIG", "SET", "save", "60 5") == b"OK"
        assert client("CONFIG", "GET", "save") == [b"save", b"60 5"]
        assert client("CONFIG", "SET", "save", "") == b"OK"
        assert client("CONFIG", "GET", "save") == [b"save", b""]
        with pytest.raises(RuntimeError, match="save '60' is not pairs"):
            client("CONFIG", "SET", "save", "60")
        assert client("CONFIG", "GET", "stop-writes-on-bgsave-error") == [
            b"stop-writes-on-bgsave-error",
            b"yes",
        ]
        rows = client("COMMAND", "INFO", "save", "bgsave", "lastsave")
        assert isinstance(rows, list)
        assert [row[:2] for row in rows] == [[b"save", 1], [b"bgsave", -1], [b"lastsave", 1]]
        assert {b"admin", b"noscript"} <= set(rows[0][2]) and b"fast" in set(rows[2][2])
        docs = client("COMMAND", "DOCS", "bgsave")
        assert isinstance(docs, list) and docs[0] == b"bgsave"
        assert b"BGSAVE [SCHEDULE]" in docs[1] and b"server" in docs[1]
        client.close()


# -- save points and shutdown --------------------------------------------------------------


def test_a_save_point_starts_a_background_save(start: type[ServerProcess], data_dir: Path) -> None:
    """With --save "1 1", one write is snapshotted a second or so later, unasked."""
    server = snapshotting(start, data_dir, "1 1")
    client = server.client()
    client("SET", "k", "v")
    fields = saved(client, 1)
    assert fields["rdb_last_bgsave_status"] == "ok"
    assert server.events("save_point_reached")[0]["changes"] == 1
    assert check_snapshot(data_dir / SNAPSHOT_NAME).keys == 1
    time.sleep(2.5)  # nothing changed since: no save point is met again
    assert info(client)["rdb_saves"] == "1"
    client.close()
    assert server.stop() == 0


def test_sigterm_writes_a_snapshot_that_the_next_start_loads(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """A clean stop saves every type, TTLs as deadlines; the restart serves the same data."""
    server = snapshotting(start, data_dir)
    client = server.client()
    client("SET", "text", "hello")
    client("INCRBY", "counter", 42)
    client("RPUSH", "list", "a", "", "b")
    client("SADD", "set", "x", "y")
    client("HSET", "hash", "f", "v")
    client("ZADD", "zset", "1.5", "m1", "-inf", "m2")
    client("SET", "ttl", "v", "EX", "1000")
    client("SET", "short", "v", "PX", "300")
    deadline = client("PEXPIRETIME", "ttl")
    client.close()
    assert server.stop() == 0
    assert server.events("shutdown_saved")
    time.sleep(0.5)  # "short" expires while the server is down

    server = snapshotting(start, data_dir)
    client = server.client()
    assert sorted(strings(client("KEYS", "*"))) == [
        "counter",
        "hash",
        "list",
        "set",
        "text",
        "ttl",
        "zset",
    ]
    assert client("GET", "text") == b"hello"
    assert client("INCR", "counter") == 43
    assert client("LRANGE", "list", "0", "-1") == [b"a", b"", b"b"]
    assert sorted(strings(client("SMEMBERS", "set"))) == ["x", "y"]
    assert client("HGETALL", "hash") == [b"f", b"v"]
    assert client("ZRANGE", "zset", "0", "-1", "WITHSCORES") == [b"m2", b"-inf", b"m1", b"1.5"]
    assert client("PEXPIRETIME", "ttl") == deadline
    fields = info(client)
    assert (fields["rdb_last_load_keys_loaded"], fields["rdb_last_load_keys_expired"]) == ("7", "1")
    client.close()
    assert server.stop() == 0


@pytest.mark.slow
def test_sigterm_during_a_bgsave_cancels_it_and_saves_in_the_foreground(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The running child is killed (not reported as a failure), then the stop saves it all."""
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", SLOW_KEY_DELAY_S)
    server = snapshotting(start, data_dir)
    client = server.client()
    fill(client, SLOW_KEYS)
    assert client("BGSAVE") == STARTED
    pid = child_pid(server)
    wait_for(lambda: bool(temp_files(data_dir)), "the child to start writing")
    client.close()
    assert server.stop() == 0
    assert gone(pid)
    assert server.events("bgsave_cancelled") and not server.events("bgsave_failed")
    assert server.events("shutdown_saved")
    assert check_snapshot(data_dir / SNAPSHOT_NAME).keys == SLOW_KEYS
    assert temp_files(data_dir) == []


def test_a_shutdown_save_that_fails_makes_the_server_exit_with_an_error(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """Nowhere to write at the stop: exit 1, and the log says how many changes were lost."""
    server = snapshotting(start, data_dir)
    client = server.client()
    client("SET", "k", "v")
    client.close()
    shutil.rmtree(data_dir)
    assert server.stop() == 1
    [failed] = server.events("shutdown_save_failed")
    assert failed["changes_lost"] == 1 and "cannot write the snapshot" in str(failed["error"])


def test_with_save_off_a_clean_stop_writes_nothing(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """--save "" turns automatic snapshots off, the one at shutdown included."""
    server = snapshotting(start, data_dir, "")
    client = server.client()
    client("SET", "k", "v")
    assert client("CONFIG", "GET", "save") == [b"save", b""]
    client.close()
    assert server.stop() == 0
    assert not (data_dir / SNAPSHOT_NAME).exists()


# -- failures ------------------------------------------------------------------------------


def test_a_failed_bgsave_refuses_writes_with_misconf_until_a_save_succeeds(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """The data directory gone: BGSAVE fails, writes and PING get MISCONF, reads still answer;
    a BGSAVE that succeeds lets writes in again."""
    server = snapshotting(start, data_dir)
    client = server.client()
    client("SET", "k", "v")
    shutil.rmtree(data_dir)
    assert client("BGSAVE") == STARTED
    assert saved(client, 1)["rdb_last_bgsave_status"] == "err"
    assert server.events("bgsave_failed")[0]["writes_refused"] is True
    assert error_of(client, "SET", "k", "w") == MISCONF
    assert error_of(client, "PING") == MISCONF
    assert client("GET", "k") == b"v"
    assert client("MULTI") == b"OK"
    assert error_of(client, "RPUSH", "q", "job") == MISCONF
    assert error_of(client, "EXEC").startswith("EXECABORT")

    data_dir.mkdir()
    assert client("BGSAVE") == STARTED
    assert saved(client, 2)["rdb_last_bgsave_status"] == "ok"
    assert client("SET", "k", "w") == b"OK"
    client.close()
    assert server.stop() == 0


def test_stop_writes_on_bgsave_error_no_keeps_writes_going(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """With the setting off, a failed BGSAVE is reported but writes go on."""
    server = snapshotting(start, data_dir, "3600 1", "--stop-writes-on-bgsave-error", "no")
    client = server.client()
    shutil.rmtree(data_dir)
    assert client("BGSAVE") == STARTED
    assert saved(client, 1)["rdb_last_bgsave_status"] == "err"
    assert client("SET", "k", "v") == b"OK"
    assert client("CONFIG", "SET", "stop-writes-on-bgsave-error", "yes") == b"OK"
    assert error_of(client, "SET", "k", "w") == MISCONF
    assert client("CONFIG", "SET", "save", "") == b"OK"  # no save points: no refusal
    assert client("SET", "k", "w") == b"OK"
    client.close()
    data_dir.mkdir()  # so that the stop's own snapshot succeeds
    assert server.stop() == 0


@pytest.mark.redis
def test_misconf_is_redis_server_7s_text(tmp_path: Path) -> None:
    """redis-server refuses a write after a failed BGSAVE with the very same error."""
    directory = tmp_path / "redis"
    directory.mkdir()
    redis = start_redis("--save", "3600 1", "--dir", str(directory))
    try:
        client = Resp(redis.port)
        shutil.rmtree(directory)
        assert client("BGSAVE") == STARTED
        wait_for(lambda: info(client)["rdb_last_bgsave_status"] == "err", "the BGSAVE to fail")
        assert error_of(client, "SET", "k", "v") == MISCONF
        assert error_of(client, "PING") == MISCONF
        client("CONFIG", "SET", "save", "")  # else its shutdown save fails and it stays up
        client.close()
    finally:
        redis.stop()


def test_flushall_cancels_a_bgsave_and_saves_the_empty_dataset(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FLUSHALL with save points kills the running BGSAVE (cancelled, not failed) and saves
    at once: a SIGKILL right after it cannot bring the flushed keys back."""
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", SLOW_KEY_DELAY_S)
    server = snapshotting(start, data_dir)
    client = server.client()
    fill(client, SLOW_KEYS)
    assert client("SAVE") == b"OK"
    assert client("BGSAVE") == STARTED
    pid = child_pid(server)
    assert client("FLUSHALL") == b"OK"
    wait_for(lambda: gone(pid), f"the snapshot child {pid} to be killed")
    fields = info(client)
    assert (fields["rdb_bgsave_in_progress"], fields["rdb_last_bgsave_status"]) == ("0", "ok")
    assert fields["rdb_changes_since_last_save"] == "0"
    assert check_snapshot(data_dir / SNAPSHOT_NAME).keys == 0
    assert temp_files(data_dir) == []
    assert client("SET", "after", "1") == b"OK"  # a cancelled BGSAVE is no MISCONF
    client.close()
    server.stop(signal.SIGKILL)

    server = snapshotting(start, data_dir)
    client = server.client()
    assert client("KEYS", "*") == []
    client.close()
    assert server.stop() == 0


@pytest.mark.slow
def test_a_killed_bgsave_child_leaves_the_previous_snapshot(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL of the child mid-write: status err, the old dump.qkdb untouched, no temp left,
    and a restart loads the old snapshot."""
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", SLOW_KEY_DELAY_S)
    server = snapshotting(start, data_dir)
    client = server.client()
    client("SET", "old", "1")
    assert client("SAVE") == b"OK"
    previous = (data_dir / SNAPSHOT_NAME).read_bytes()
    fill(client, SLOW_KEYS)
    assert client("BGSAVE") == STARTED
    pid = child_pid(server)
    wait_for(lambda: bool(temp_files(data_dir)), "the child to start writing")
    os.kill(pid, signal.SIGKILL)
    fields = saved(client, 2)
    assert fields["rdb_last_bgsave_status"] == "err"
    assert "SIGKILL" in str(server.events("bgsave_failed")[0]["error"])
    assert (data_dir / SNAPSHOT_NAME).read_bytes() == previous
    assert temp_files(data_dir) == []
    client.close()
    server.stop(signal.SIGKILL)

    server = snapshotting(start, data_dir)
    client = server.client()
    assert strings(client("KEYS", "*")) == ["old"]
    client.close()
    assert server.stop() == 0


@pytest.mark.slow
def test_a_server_killed_mid_bgsave_restarts_from_the_previous_snapshot(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL of the server while its child writes: the child dies too, the old snapshot
    loads, the half-written temp file is never loaded."""
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", SLOW_KEY_DELAY_S)
    server = snapshotting(start, data_dir)
    client = server.client()
    client("SET", "old", "1")
    assert client("SAVE") == b"OK"
    previous = (data_dir / SNAPSHOT_NAME).read_bytes()
    fill(client, SLOW_KEYS)
    assert client("BGSAVE") == STARTED
    pid = child_pid(server)
    wait_for(lambda: bool(temp_files(data_dir)), "the child to start writing")
    server.stop(signal.SIGKILL)
    # The child dies with its parent (fork.py rule 4): no orphan renames anything.
    wait_for(lambda: gone(pid), f"the snapshot child {pid} to die with the server")
    assert (data_dir / SNAPSHOT_NAME).read_bytes() == previous
    assert temp_files(data_dir) == [f"temp-{pid}.qkdb"]
    with contextlib.suppress(OSError):
        client.close()

    server = snapshotting(start, data_dir)
    client = server.client()
    assert strings(client("KEYS", "*")) == ["old"]
    client.close()
    assert server.stop() == 0


def test_a_damaged_snapshot_stops_the_start_naming_file_and_offset(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """A flipped byte: the server exits 1 naming dump.qkdb and the offset; the file is as it was."""
    server = snapshotting(start, data_dir)
    client = server.client()
    fill(client, 5000)
    client.close()
    assert server.stop() == 0
    path = data_dir / SNAPSHOT_NAME
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(damaged)

    refused = start(data_dir, "everysec", *SNAPSHOT_ONLY)
    assert refused.process.wait(IO_TIMEOUT_S) == 1
    assert str(path) in refused.log and "at byte offset" in refused.log
    assert path.read_bytes() == damaged


# -- the crash loop -------------------------------------------------------------------------


class SaveWatcher:
    """Polls INFO and keeps the time before which every acknowledged write is in a
    completed snapshot: the send time of the last idle poll before a save that later
    completed (that save forked after the poll, so after every write acked before it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.covered_before = float("-inf")  # monotonic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> SaveWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(IO_TIMEOUT_S)

    def _run(self) -> None:
        idle: tuple[float, int] | None = None  # (sent at, saves started) of an idle poll
        try:
            client = Resp(self.port)
        except OSError:
            return
        with contextlib.closing(client):
            while not self._stop.is_set():
                sent_at = time.monotonic()
                try:
                    fields = info(client)
                except (OSError, ConnectionError, ValueError, AssertionError):
                    return  # the server was killed
                if fields["rdb_bgsave_in_progress"] == "0":
                    saves = int(fields["rdb_saves"])
                    ok = fields["rdb_last_bgsave_status"] == "ok"
                    if idle is not None and saves > idle[1] and ok:
                        self.covered_before = idle[0]
                    idle = (sent_at, saves)
                time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.timeout(300)  # 21 starts and 20 kills: about a minute, more on a loaded machine
def test_snapshot_only_sigkills_lose_at_most_the_writes_after_the_last_save(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """20 SIGKILLs at random moments under --save "1 1": every push acknowledged before the
    last completed snapshot is there, none twice, and what is there is a prefix of the pushes
    (the push in flight at the kill may be in it, unacknowledged)."""
    rng = random.Random(17)
    covered: set[str] = set()
    pushed: list[str] = []  # in order, across cycles (one pusher), then the one in flight
    for cycle in range(CRASH_CYCLES + 1):
        server = snapshotting(start, data_dir, "1 1")
        client = server.client()
        stored = strings(client("LRANGE", "crash", "0", "-1"))
        client.close()
        assert len(stored) == len(set(stored)), "a push was applied twice"
        assert stored == pushed[: len(stored)], "the snapshot is not a point in time"
        assert covered <= set(stored), f"{len(covered - set(stored))} saved pushes were lost"
        if cycle == CRASH_CYCLES:
            break
        pushed = stored  # what the last snapshot kept; the rest was lost with the kill
        record: list[tuple[str, float]] = []
        with SaveWatcher(server.port) as watcher:
            pusher = threading.Thread(
                target=push_until_broken, args=(server.port, "crash", f"{cycle}", record)
            )
            pusher.start()
            time.sleep(rng.uniform(0.5, 2.5))
            server.stop(signal.SIGKILL)
            pusher.join(IO_TIMEOUT_S)
            assert not pusher.is_alive()
        pushed = [*pushed, *(value for value, _ in record), f"{cycle}-{len(record)}"]
        covered |= {value for value, acked_at in record if acked_at < watcher.covered_before}
    assert covered, "no snapshot completed in any cycle"
    assert server.stop() == 0
