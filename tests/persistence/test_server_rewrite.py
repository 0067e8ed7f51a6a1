"""BGREWRITEAOF and the automatic rewrite, served: compaction, writes meanwhile, crashes.

Servers run as subprocesses (support.ServerProcess). A slow rewrite comes
from the QUEUEKIT_KEY_SAVE_DELAY test hook (seconds the child sleeps after
each key, Redis's rdb-key-save-delay), so a test can act while one runs.
Waits are bounded by generous deadlines; nothing asserts on timing.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest

from queuekit.persistence.files import TEMP_PREFIX
from queuekit.persistence.manifest import DIR_NAME, base_name, incr_name
from queuekit.resp.encoder import encode_command
from queuekit.server.aofrewrite import ALREADY_RUNNING, NO_DATA_DIR
from tests.persistence.support import (
    IO_TIMEOUT_S,
    Resp,
    ServerProcess,
    aof_files,
    check_no_loss,
    info,
    push_until_broken,
    running,
    wait_for,
)
from tests.support.queuekit_server import running_server
from tests.support.redis_server import start_redis

STARTED = b"Background append only file rewriting started"
SCHEDULED = b"Background append only file rewriting scheduled"
# 1,000 keys at 2 ms each: a rewrite of about two seconds, longer on a loaded machine.
SLOW_KEYS = 1000
SLOW_KEY_DELAY_S = "0.002"
# At 10 ms a key, ten seconds: ample time to kill it midway, however loaded the machine.
KILLED_KEY_DELAY_S = "0.01"


def names(data_dir: Path) -> list[str]:
    return [path.name for path in aof_files(data_dir)]


def finished(client: Resp, rewrites: int) -> bool:
    """`rewrites` rewrites have started and none is running or waiting."""
    fields = info(client)
    return (
        int(fields["aof_rewrites"]) >= rewrites
        and fields["aof_rewrite_in_progress"] == "0"
        and fields["aof_rewrite_scheduled"] == "0"
    )


def wait_finished(client: Resp, rewrites: int) -> dict[str, str]:
    wait_for(lambda: finished(client, rewrites), f"rewrite {rewrites} to finish")
    return info(client)


def fill(client: Resp, count: int) -> None:
    replies = client.pipeline([("SET", f"k:{n}", n) for n in range(count)])
    assert replies == [b"OK"] * count


def child_pid(server: ServerProcess) -> int:
    wait_for(lambda: bool(server.events("aof_rewrite_started")), "the rewrite child's pid")
    return int(str(server.events("aof_rewrite_started")[-1]["pid"]))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def temp_files(data_dir: Path) -> list[str]:
    return [name for name in os.listdir(data_dir / DIR_NAME) if name.startswith(TEMP_PREFIX)]


# -- compaction --------------------------------------------------------------------------


def test_bgrewriteaof_compacts_ten_thousand_overwrites_and_the_data_survives(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """10,000 SETs of one key become a one-command base; a restart still reads the last value."""
    server = running(start, data_dir, "everysec")
    client = server.client()
    client.pipeline([("SET", "k", n) for n in range(10_000)])
    assert int(info(client)["aof_current_size"]) > 250_000
    assert client("BGREWRITEAOF") == STARTED
    fields = wait_finished(client, 1)
    assert fields["aof_last_bgrewrite_status"] == "ok"
    assert names(data_dir) == [base_name(2), incr_name(2)]
    base = encode_command((b"SET", b"k", b"9999"))
    assert (data_dir / DIR_NAME / base_name(2)).read_bytes() == base
    assert int(fields["aof_base_size"]) == len(base) == int(fields["aof_current_size"])
    assert int(fields["aof_last_rewrite_time_sec"]) >= 0
    client.close()
    assert server.stop() == 0

    server = running(start, data_dir, "everysec")
    client = server.client()
    assert client("GET", "k") == b"9999"
    client.close()
    assert server.stop() == 0


def test_an_automatic_rewrite_starts_once_the_aof_outgrows_its_threshold(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """Past --auto-aof-rewrite-min-size and 100% growth, the cron rewrites on its own."""
    server = running(start, data_dir, "everysec", "--auto-aof-rewrite-min-size", "4096")
    client = server.client()
    assert client("CONFIG", "GET", "auto-aof-rewrite-min-size") == [
        b"auto-aof-rewrite-min-size",
        b"4096",
    ]
    client.pipeline([("SET", "k", "x" * 100) for _ in range(100)])  # about 13 kB
    wait_finished(client, 1)
    client.close()
    assert server.stop() == 0  # the files hold still from here (a second rewrite may have run)
    assert server.events("aof_rewrite_automatic")
    assert (data_dir / DIR_NAME / names(data_dir)[0]).read_bytes() == encode_command(
        (b"SET", b"k", b"x" * 100)
    )


# -- while a rewrite runs ------------------------------------------------------------------


def test_writes_during_a_rewrite_land_in_the_new_incr_and_survive(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The incr opened at the fork takes the writes made meanwhile; the new base does not."""
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", SLOW_KEY_DELAY_S)
    server = running(start, data_dir, "always")
    client = server.client()
    fill(client, SLOW_KEYS)
    assert client("BGREWRITEAOF") == STARTED
    assert client("RPUSH", "during", "a", "b") == 2
    assert client("SET", "k:0", "changed") == b"OK"
    assert info(client)["aof_rewrite_in_progress"] == "1"
    assert names(data_dir) == [base_name(1), incr_name(1), incr_name(2)]
    assert (data_dir / DIR_NAME / incr_name(2)).read_bytes() == (
        encode_command((b"RPUSH", b"during", b"a", b"b"))
        + encode_command((b"SET", b"k:0", b"changed"))
    )
    wait_finished(client, 1)
    assert names(data_dir) == [base_name(2), incr_name(2)]
    assert b"during" not in (data_dir / DIR_NAME / base_name(2)).read_bytes()
    client.close()
    assert server.stop() == 0

    server = running(start, data_dir, "always")
    client = server.client()
    assert client("LRANGE", "during", 0, -1) == [b"a", b"b"]
    assert client("GET", "k:0") == b"changed"
    assert client("DBSIZE") == SLOW_KEYS + 1
    client.close()
    assert server.stop() == 0


@pytest.mark.slow
def test_a_killed_rewrite_child_fails_keeps_the_old_files_and_a_retry_succeeds(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL of the child: status err, every file still listed and loadable, no temp left."""
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", KILLED_KEY_DELAY_S)
    server = running(start, data_dir, "always")
    client = server.client()
    fill(client, SLOW_KEYS)
    assert client("BGREWRITEAOF") == STARTED
    os.kill(child_pid(server), signal.SIGKILL)
    fields = wait_finished(client, 1)
    assert fields["aof_last_bgrewrite_status"] == "err"
    assert fields["aof_rewrites_consecutive_failures"] == "1"
    assert names(data_dir) == [base_name(1), incr_name(1), incr_name(2)]
    assert temp_files(data_dir) == []
    assert client("SET", "after", "1") == b"OK"

    assert client("CONFIG", "SET", "key-save-delay", "0") == b"OK"
    assert client("BGREWRITEAOF") == STARTED
    fields = wait_finished(client, 2)
    assert fields["aof_last_bgrewrite_status"] == "ok"
    assert names(data_dir) == [base_name(2), incr_name(3)]
    client.close()
    assert server.stop() == 0

    server = running(start, data_dir, "always")
    client = server.client()
    assert client("DBSIZE") == SLOW_KEYS + 1
    assert client("GET", "after") == b"1"
    client.close()
    assert server.stop() == 0


@pytest.mark.slow
def test_a_server_killed_mid_rewrite_restarts_with_every_acknowledged_write(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL of the server while its child rewrites: the restart has every acked push."""
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", KILLED_KEY_DELAY_S)
    rng = random.Random(11)
    acked: set[str] = set()
    for cycle in range(3):
        server = running(start, data_dir, "always")
        client = server.client()
        check_no_loss(client, "crash", acked)
        if cycle == 0:
            fill(client, SLOW_KEYS)
        records: list[list[tuple[str, float]]] = [[] for _ in range(2)]
        pushers = [
            threading.Thread(
                target=push_until_broken, args=(server.port, "crash", f"{cycle}-{n}", records[n])
            )
            for n in range(2)
        ]
        for thread in pushers:
            thread.start()
        assert client("BGREWRITEAOF") == STARTED
        pid = child_pid(server)
        time.sleep(rng.uniform(0.1, 0.8))
        assert info(client)["aof_rewrite_in_progress"] == "1", "the rewrite ended before the kill"
        server.stop(signal.SIGKILL)
        for thread in pushers:
            thread.join(IO_TIMEOUT_S)
            assert not thread.is_alive()
        acked.update(value for record in records for value, _ in record)
        # The child dies with its parent (fork.py rule 4): no orphan renames anything.
        wait_for(lambda pid=pid: gone(pid), f"the rewrite child {pid} to die with the server")
        with contextlib.suppress(OSError):
            client.close()
    assert acked
    server = running(start, data_dir, "always")
    client = server.client()
    check_no_loss(client, "crash", acked)
    assert client("EXISTS", f"k:{SLOW_KEYS - 1}") == 1
    assert temp_files(data_dir) == []
    client.close()
    assert server.stop() == 0


# -- replies and settings --------------------------------------------------------------------


def rewrite_replies(client: Resp) -> list[object]:
    """BGREWRITEAOF started, refused while running, refused in EXEC while running,
    then scheduled from EXEC, and scheduled behind a BGSAVE; both run by the cron."""
    for n in range(5):
        client("SET", f"k{n}", "v")
    replies: list[object] = [client("BGREWRITEAOF")]
    try:
        client("BGREWRITEAOF")
    except RuntimeError as error:
        replies.append(str(error))
    replies += [client("MULTI"), client("BGREWRITEAOF"), client("EXEC")]
    wait_finished(client, 1)
    replies += [client("MULTI"), client("BGREWRITEAOF"), client("EXEC")]
    replies.append(info(client)["aof_rewrite_scheduled"])
    wait_finished(client, 2)
    replies += [client("BGSAVE"), client("BGREWRITEAOF"), info(client)["aof_rewrite_scheduled"]]
    wait_finished(client, 3)
    return [plain(reply) for reply in replies]


def plain(reply: object) -> object:
    """Error replies as their text, so replies compare with ==."""
    if isinstance(reply, list):
        return [plain(item) for item in reply]
    return str(reply) if isinstance(reply, Exception) else reply


@pytest.mark.redis
def test_bgrewriteaof_answers_as_redis_server_7_does(
    start: type[ServerProcess], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same script gets the same replies from redis-server and from queuekit."""
    redis = start_redis()
    try:
        client = Resp(redis.port)
        client("CONFIG", "SET", "rdb-key-save-delay", "100000")  # µs a key: half a second
        expected = rewrite_replies(client)
        client.close()
    finally:
        redis.stop()
    monkeypatch.setenv("QUEUEKIT_KEY_SAVE_DELAY", "0.1")
    server = running(start, data_dir, "everysec")
    client = server.client()
    assert rewrite_replies(client) == expected
    assert expected[:2] == [STARTED, ALREADY_RUNNING]
    assert expected[-5:] == [[SCHEDULED], "1", b"Background saving started", SCHEDULED, "1"]
    client.close()
    assert server.stop() == 0


def test_with_appendonly_off_bgrewriteaof_still_writes_a_base(
    start: type[ServerProcess], data_dir: Path
) -> None:
    """As redis-server 7: a base and a manifest listing only it; appendonly yes then loads it."""
    server = running(start, data_dir, "everysec", "--appendonly", "no")
    client = server.client()
    client("SET", "k", "v")
    assert client("BGREWRITEAOF") == STARTED
    fields = wait_finished(client, 1)
    assert (fields["aof_enabled"], fields["aof_last_bgrewrite_status"]) == ("0", "ok")
    assert names(data_dir) == [base_name(1)]
    client.close()
    assert server.stop() == 0

    server = running(start, data_dir, "everysec")
    client = server.client()
    assert client("GET", "k") == b"v"
    client.close()
    assert server.stop() == 0


def test_without_a_data_directory_bgrewriteaof_is_refused_saying_why() -> None:
    """No --data-dir: nowhere to write, and the error says which flag gives one."""
    with running_server() as served:
        client = Resp(served.port)
        with pytest.raises(RuntimeError) as refused:
            client("BGREWRITEAOF")
        assert str(refused.value) == NO_DATA_DIR
        client.close()


def test_info_config_and_command_describe_the_rewrite(tmp_path: Path) -> None:
    """INFO's aof_rewrite* fields, CONFIG GET/SET of the thresholds, COMMAND INFO and DOCS."""
    with running_server(data_dir=str(tmp_path), appendonly=True) as served:
        client = Resp(served.port)
        fields = info(client)
        assert {name: fields[name] for name in fields if "rewrite" in name} == {
            "aof_rewrite_in_progress": "0",
            "aof_rewrite_scheduled": "0",
            "aof_last_rewrite_time_sec": "-1",
            "aof_current_rewrite_time_sec": "-1",
            "aof_last_bgrewrite_status": "ok",
            "aof_rewrites": "0",
            "aof_rewrites_consecutive_failures": "0",
        }
        assert (fields["aof_base_size"], fields["aof_current_size"]) == ("0", "0")
        assert client("CONFIG", "GET", "auto-aof-*") == [
            b"auto-aof-rewrite-percentage",
            b"100",
            b"auto-aof-rewrite-min-size",
            b"67108864",
        ]
        assert (
            client(
                "CONFIG",
                "SET",
                "auto-aof-rewrite-percentage",
                "50",
                "auto-aof-rewrite-min-size",
                "1mb",
            )
            == b"OK"
        )
        assert client("CONFIG", "GET", "auto-aof-rewrite-*")[1::2] == [b"50", b"1048576"]
        with pytest.raises(RuntimeError, match="auto-aof-rewrite-percentage must be >= 0"):
            client("CONFIG", "SET", "auto-aof-rewrite-percentage", "-1")
        [row] = client("COMMAND", "INFO", "bgrewriteaof")
        assert row[:2] == [b"bgrewriteaof", 1] and {b"admin", b"noscript"} <= set(row[2])
        docs = client("COMMAND", "DOCS", "bgrewriteaof")
        assert docs[0] == b"bgrewriteaof" and b"server" in docs[1]
        client.close()
