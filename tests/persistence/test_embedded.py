"""memory://NAME?dir=DIR: the in-process store persisted to a directory.

In-process tests run on a fake clock wherever a TTL matters; the crash tests
run child interpreters (started here, killed here, by pid) that write to a
directory of this test's tmp_path. Waits on the cron thread poll with a
generous deadline and never assert on durations.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import queuekit.persistence.embedded as embedded
from queuekit import connect
from queuekit.client.memory import AsyncMemoryClient, MemoryClient, MemoryStore, open_store
from queuekit.engine.clock import FakeClock
from queuekit.engine.engine import Engine
from queuekit.engine.session import Session
from queuekit.errors import CorruptFileError, PersistenceError, UsageError
from queuekit.jobs import JobStatus, TaskSet, Worker
from queuekit.jobs.job import Job
from queuekit.persistence.aofdir import REWRITE_TEMP_PREFIX
from queuekit.persistence.lockfile import LOCK_NAME
from queuekit.server.app import Server
from queuekit.server.config import ServerConfig
from tests.persistence.support import START_MS, commands_of, dataset

WAIT_S = 30.0  # generous: the machine is shared and slow
CHILD_TIMEOUT_S = 60.0
CRASH_CYCLES = 3
ACKS_BEFORE_KILL = (20, 150)  # a kill lands after a random number of acknowledged pushes


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def stores() -> Iterator[Callable[..., MemoryStore]]:
    """Open persistent stores with `stores(directory, **options)`; all are closed at the end."""
    opened: list[MemoryStore] = []

    def open_one(directory: Path, **options: Any) -> MemoryStore:
        options.setdefault("clock", FakeClock(START_MS))
        store = MemoryStore(directory=directory, **options)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def memory_store(url: str) -> MemoryStore:
    """The in-process store `connect(url)` reaches."""
    client = connect(url)
    assert isinstance(client, MemoryClient)
    return client.store


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


def appended_to(store: MemoryStore) -> Path:
    """The file the store appends its writes to (the last incr file)."""
    assert store.directory is not None
    return Path(store.directory.aof.path)


def logged(store: MemoryStore) -> list[list[bytes]]:
    """The commands in the file the store appends to."""
    return commands_of(appended_to(store).read_bytes())


def on_disk(store: MemoryStore) -> bool:
    """Everything in the store's file has been fsynced."""
    assert store.directory is not None
    aof = store.directory.aof
    return aof.synced_size == aof.size == appended_to(store).stat().st_size


def fill(client: MemoryClient) -> None:
    """One key of every type, some with deadlines, some changed after they were made."""
    for argv in (
        ("SET", "string", "value", "EX", 100),
        ("SET", "counter", 10),
        ("INCRBY", "counter", 5),
        ("INCRBYFLOAT", "float", "1.5"),
        ("RPUSH", "list", "a", "b", "c"),
        ("LPOP", "list"),
        ("PEXPIRE", "list", 50_000),
        ("SADD", "set", "x", "y", "z"),
        ("SREM", "set", "y"),
        ("HSET", "hash", "f", "1", "g", "2"),
        ("ZADD", "zset", 1.5, "m", "-inf", "n"),
        ("SET", "gone", "soon"),
        ("DEL", "gone"),
    ):
        client.execute(*argv)


# -- restarts --------------------------------------------------------------------------


def test_a_reopened_store_has_the_same_values_and_deadlines(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """Write, close, reopen: every key comes back with its value and its deadline."""
    clock = FakeClock(START_MS)
    store = stores(data_dir, clock=clock)
    fill(MemoryClient(store))
    before = dataset(store.engine)
    store.close()

    again = stores(data_dir, clock=clock)
    assert dataset(again.engine) == before
    assert MemoryClient(again).ttl("string") == 100


def test_keys_that_expired_while_closed_do_not_come_back(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """A deadline that passed while the store was closed deletes the key at reopen, for good."""
    clock = FakeClock(START_MS)
    store = stores(data_dir, clock=clock)
    client = MemoryClient(store)
    client.set("short", "x", px=1_000)
    client.set("long", "y", ex=100)
    store.close()

    clock.advance(2)
    again = stores(data_dir, clock=clock)
    assert MemoryClient(again).mget("short", "long") == [None, b"y"]
    again.close()
    # The deletion was logged, so a later reopen agrees even on a clock that is behind.
    assert [b"DEL", b"short"] in logged(again)
    third = stores(data_dir, clock=FakeClock(START_MS))
    assert MemoryClient(third).mget("short", "long") == [None, b"y"]


def test_the_server_and_memory_read_each_others_directory(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """What memory:// wrote, a queuekit server loads at start, and the other way round."""
    store = stores(data_dir, clock=None)
    MemoryClient(store).rpush("from-memory", "a", "b")
    store.close()

    server = Server(ServerConfig(data_dir=str(data_dir), appendonly=True))
    server.open_persistence()
    assert list(server.engine.db.data[b"from-memory"]) == [b"a", b"b"]
    # The server writes through its engine and its release point, as a connection does.
    server.engine.execute(Session(), (b"SET", b"from-server", b"1"))
    assert server.release()
    server.close_persistence()

    again = MemoryClient(stores(data_dir, clock=None))
    assert again.lrange("from-memory", 0, -1) == [b"a", b"b"]
    assert again.get("from-server") == b"1"


# -- the release point -------------------------------------------------------------------


def _command(client: MemoryClient, store: MemoryStore) -> None:
    client.rpush("q", "one")


def _plain_pipeline(client: MemoryClient, store: MemoryStore) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.rpush("q", "one")
    pipe.execute()


def _transaction(client: MemoryClient, store: MemoryStore) -> None:
    pipe = client.pipeline()
    pipe.rpush("q", "one")
    pipe.execute()


def _watched_transaction(client: MemoryClient, store: MemoryStore) -> None:
    with client.pipeline() as pipe:
        pipe.watch("q")
        pipe.multi()
        pipe.rpush("q", "one")
        pipe.execute()


def _store_run(client: MemoryClient, store: MemoryStore) -> None:
    store.run(Session(), (b"RPUSH", b"q", b"one"))


def _async_command(client: MemoryClient, store: MemoryStore) -> None:
    async def main() -> None:
        async with AsyncMemoryClient(store) as aclient:
            await aclient.rpush("q", "one")

    asyncio.run(main())


def _async_transaction(client: MemoryClient, store: MemoryStore) -> None:
    async def main() -> None:
        async with AsyncMemoryClient(store) as aclient:
            pipe = aclient.pipeline()
            pipe.rpush("q", "one")
            await pipe.execute()

    asyncio.run(main())


WRITE_PATHS = [
    _command,
    _plain_pipeline,
    _transaction,
    _watched_transaction,
    _store_run,
    _async_command,
    _async_transaction,
]


@pytest.mark.parametrize("write", WRITE_PATHS, ids=[w.__name__.strip("_") for w in WRITE_PATHS])
def test_under_always_every_write_path_is_on_disk_before_it_returns(
    write: Callable[[MemoryClient, MemoryStore], None],
    stores: Callable[..., MemoryStore],
    data_dir: Path,
) -> None:
    """A command, pipeline, transaction, store.run or async call: logged and fsynced on return."""
    store = stores(data_dir, appendfsync="always")
    write(MemoryClient(store), store)
    assert [b"RPUSH", b"q", b"one"] in logged(store)
    assert on_disk(store)


def test_under_always_a_pop_served_to_a_waiter_is_on_disk_before_the_waiter_returns(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """BLPOP parked, then served by another thread's push: its LPOP is fsynced when it returns."""
    store = stores(data_dir, appendfsync="always", clock=None)
    client = MemoryClient(store)
    seen: list[Any] = []

    def wait() -> None:
        seen.append(client.blpop(["q"], timeout=WAIT_S))
        seen.append(on_disk(store) and [b"LPOP", b"q"] in logged(store))

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_until(lambda: bool(store.engine.db.waiting.get(b"q")), "BLPOP is parked")
    client.rpush("q", "job")
    waiter.join(WAIT_S)
    assert seen == [[b"q", b"job"], True]


def test_the_cron_thread_logs_expiry_deletions_and_fsyncs_under_everysec(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """A key nobody reads expires in the cron, its DEL is logged, and everysec fsyncs it."""
    clock = FakeClock(START_MS)
    store = stores(data_dir, clock=clock)
    MemoryClient(store).set("k", "v", px=1_000)
    clock.advance(2)
    wait_until(lambda: [b"DEL", b"k"] in logged(store), "the cron logs DEL k")
    wait_until(lambda: on_disk(store), "everysec fsyncs the file")


def test_close_fsyncs_and_a_closed_store_refuses_commands_until_reopened(
    data_dir: Path,
) -> None:
    """close() writes and fsyncs; the store then refuses commands; open_store makes a new one."""
    name = f"closing-{os.getpid()}-{id(data_dir)}"
    store = open_store(name, directory=data_dir, appendfsync="no")
    client = MemoryClient(store)
    client.set("k", "v")
    store.close()
    assert store.directory is not None and store.directory.aof.fsyncs == 1
    with pytest.raises(PersistenceError, match=f"data directory {data_dir} was closed"):
        client.get("k")
    again = open_store(name, directory=data_dir, appendfsync="no")
    try:
        assert again is not store
        assert MemoryClient(again).get("k") == b"v"
    finally:
        again.close()


def test_the_exit_hook_closes_every_open_store(
    stores: Callable[..., MemoryStore], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At interpreter exit, an open persistent store is written, fsynced and let go of."""
    store = stores(data_dir, appendfsync="no")
    MemoryClient(store).set("k", "v")
    assert not on_disk(store)  # under `no` nothing but close fsyncs
    monkeypatch.setattr(embedded, "_open_locks", weakref.WeakSet([store.lock]))
    embedded._close_all()
    assert store.directory is not None and store.directory.closed
    assert store.directory.aof.synced_size == appended_to(store).stat().st_size > 0


def test_a_failed_fsync_under_always_fails_the_call_and_every_later_one(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """The write's caller gets PersistenceError, and so does every command after it."""
    store = stores(data_dir, appendfsync="always")
    client = MemoryClient(store)
    client.set("before", "1")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    assert store.directory is not None
    store.directory.aof._fsync_fn = broken  # the disk fails from now on
    with pytest.raises(PersistenceError, match=r"fsync of the append only file .* failed"):
        client.set("k", "v")
    with pytest.raises(PersistenceError, match="failed and takes no more commands"):
        client.get("before")


# -- compaction ------------------------------------------------------------------------------

SMALL_RULE = {"rewrite_percentage": 100, "rewrite_min_size": 4096}
NEVER = {"rewrite_percentage": 0, "rewrite_min_size": 0}


def open_directory(path: Path, **rule: int) -> tuple[Engine, embedded.DataDirectory]:
    engine = Engine(FakeClock(START_MS))
    return engine, embedded.DataDirectory.open(path, engine, "always", **rule)


def overwrite(engine: Engine, directory: embedded.DataDirectory, times: int) -> None:
    """Many writes, few keys: the files grow, the dataset does not."""
    for n in range(times):
        engine.execute(Session(), [b"SET", b"key:%d" % (n % 10), b"%d" % n, b"PX", b"60000"])
        engine.execute(Session(), [b"RPUSH", b"list", b"%d" % n])
        directory.release()


def files_bytes(directory: embedded.DataDirectory) -> int:
    """Bytes in the directory's files, once a compaction's old files are gone."""
    if directory.files.unlinking is not None:
        directory.files.unlinking.join(WAIT_S)
    return sum(file.stat().st_size for file in (directory.path / "appendonlydir").iterdir())


def test_the_cron_compacts_files_grown_past_the_rewrite_rule(data_dir: Path) -> None:
    engine, directory = open_directory(data_dir, **SMALL_RULE)
    overwrite(engine, directory, 2000)
    grown = files_bytes(directory)
    directory.cron()
    # The base holds the dataset; the list of 2,000 elements is one RPUSH.
    assert files_bytes(directory) < grown / 2
    assert directory.files.growth_due(**SMALL_RULE) is None  # measured from the new base
    overwrite(engine, directory, 3)  # appended after the compaction, to the new incr
    expected = dataset(engine)
    directory.close()
    reopened, again = open_directory(data_dir, **NEVER)
    assert dataset(reopened) == expected
    again.close()


def test_files_grown_while_closed_are_compacted_at_open(data_dir: Path) -> None:
    engine, directory = open_directory(data_dir, **NEVER)
    overwrite(engine, directory, 2000)
    grown, expected = files_bytes(directory), dataset(engine)
    directory.close()
    reopened, again = open_directory(data_dir, **SMALL_RULE)
    assert files_bytes(again) < grown / 2
    assert dataset(reopened) == expected
    again.close()


def test_a_failed_compaction_leaves_the_files_as_they_were(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store opens and goes on logging; the cron waits before trying again."""
    engine, directory = open_directory(data_dir, **NEVER)
    overwrite(engine, directory, 2000)
    expected = dataset(engine)
    directory.close()
    attempts = []

    def full_disk(*args: object) -> int:
        attempts.append(args)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(embedded, "write_base_file", full_disk)
    engine, directory = open_directory(data_dir, **SMALL_RULE)  # due at open: fails
    assert dataset(engine) == expected
    assert not list((data_dir / "appendonlydir").glob(REWRITE_TEMP_PREFIX + "*"))
    directory.cron()  # still due, but not retried at the next tick
    assert len(attempts) == 1
    overwrite(engine, directory, 5)
    expected = dataset(engine)
    directory.close()
    reopened, again = open_directory(data_dir, **NEVER)
    assert dataset(reopened) == expected
    again.close()


# -- damaged files -------------------------------------------------------------------------


def test_a_truncated_last_command_is_cut_and_the_rest_loads(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """A file cut inside its last command opens without it and takes new writes after it."""
    store = stores(data_dir)
    MemoryClient(store).execute("MSET", "first", "1", "second", "2")
    store.close()
    path = appended_to(store)
    whole = path.read_bytes()
    path.write_bytes(whole + b"*3\r\n$3\r\nSET\r\n$5\r\nthi")

    again = stores(data_dir)
    MemoryClient(again).set("fourth", "4")
    again.close()
    third = stores(data_dir)
    assert MemoryClient(third).mget("first", "second", "fourth") == [b"1", b"2", b"4"]
    assert path.with_name(f"{path.name}.truncated-{len(whole)}").exists()


def test_a_corrupt_file_is_refused_untouched_and_the_directory_let_go(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """Garbage mid-file: CorruptFileError names file and offset; a retry after a fix works."""
    store = stores(data_dir)
    MemoryClient(store).set("first", "1")
    MemoryClient(store).set("second", "2")
    store.close()
    path = appended_to(store)
    good = path.read_bytes()
    second = good.index(b"*3\r\n$3\r\nSET\r\n$6\r\nsecond")
    path.write_bytes(good[:second] + b"garbage!" + good[second + 8 :])
    damaged = path.read_bytes()

    with pytest.raises(CorruptFileError, match=f"{path} at byte offset {second}"):
        MemoryStore(directory=data_dir)
    assert path.read_bytes() == damaged
    path.write_bytes(good)  # the user's fix
    assert MemoryClient(stores(data_dir)).get("second") == b"2"


# -- one writer ------------------------------------------------------------------------------


def run_child(code: str, *args: str) -> subprocess.Popen[str]:
    """A child interpreter running `code`; it marks what it reports with a word
    first, since the store's log lines go to stdout too."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_report(child: subprocess.Popen[str], word: str) -> str:
    """The next thing the child reported under `word` (other lines are its logs)."""
    assert child.stdout is not None
    while True:
        line = child.stdout.readline()
        if not line:
            stderr = child.stderr.read() if child.stderr else ""
            raise AssertionError(f"the child ended before reporting {word!r}: {stderr}")
        if line.startswith(word + " "):
            return line.split()[1]


def test_a_second_process_on_the_directory_is_refused_naming_the_holder(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """Another process opening a held directory gets PersistenceError naming it and our pid."""
    store = stores(data_dir)
    child = run_child(
        """
        import sys
        from queuekit import connect
        from queuekit.errors import PersistenceError
        try:
            connect(f"memory://jobs?dir={sys.argv[1]}")
        except PersistenceError as error:
            print(error)
        """,
        str(data_dir),
    )
    out, err = child.communicate(timeout=CHILD_TIMEOUT_S)
    assert child.returncode == 0, err
    assert f"data directory {data_dir} is in use by process {os.getpid()}" in out
    assert str(data_dir / LOCK_NAME) in out
    store.close()


def test_a_server_and_an_in_process_store_never_share_a_directory(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """Whichever opens the directory first holds it; the other is refused naming it."""
    server = Server(ServerConfig(data_dir=str(data_dir), appendonly=True))
    server.open_persistence()
    try:
        with pytest.raises(PersistenceError, match=f"data directory {data_dir} is in use"):
            MemoryStore(directory=data_dir)
    finally:
        server.close_persistence()

    store = stores(data_dir)
    second = Server(ServerConfig(data_dir=str(data_dir), save=()))  # no AOF, no save points
    with pytest.raises(PersistenceError, match=f"data directory {data_dir} is in use"):
        second.open_persistence()
    store.close()
    second.open_persistence()  # free again once the store let go
    second.close_persistence()


def test_one_directory_has_one_store_and_one_name_one_directory(
    stores: Callable[..., MemoryStore], data_dir: Path, tmp_path: Path
) -> None:
    """A second store on a held directory is refused; a name reopened elsewhere is a UsageError."""
    store = stores(data_dir)
    with pytest.raises(PersistenceError, match="in use by another store of this process"):
        MemoryStore(directory=data_dir)

    name = f"named-{os.getpid()}-{id(tmp_path)}"
    other = tmp_path / "other"
    first = memory_store(f"memory://{name}?dir={other}")
    try:
        assert memory_store(f"memory://{name}?dir={other}") is first
        with pytest.raises(UsageError) as refused:
            connect(f"memory://{name}?dir={tmp_path / 'third'}")
        assert str(other) in str(refused.value) and str(tmp_path / "third") in str(refused.value)
        with pytest.raises(UsageError, match="appendfsync=always cannot be"):
            connect(f"memory://{name}?dir={other}&appendfsync=always")
        with pytest.raises(UsageError, match=f"memory://{name} cannot be"):
            connect(f"memory://{name}")
    finally:
        first.close()
    store.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?maxmemory=1", "unknown option 'maxmemory'; the options are dir=PATH and appendfsync"),
        ("?dir=/tmp/x&fsync=always", "unknown option 'fsync'"),
        ("?dir=", "dir is empty"),
        ("?appendfsync=always", "appendfsync needs dir=PATH"),
        ("?dir=/tmp/x&appendfsync=sometimes", "'sometimes' is not one of always, everysec, no"),
        ("?dir=/tmp/x&dir=/tmp/y", "option 'dir' is given twice"),
        ("?dir=/tmp/x#frag", "takes no fragment"),
    ],
)
def test_bad_options_are_refused_naming_them(query: str, message: str) -> None:
    """Each bad memory:// query is a ValueError naming the URL and what is wrong."""
    url = f"memory://bad-options{query}"
    with pytest.raises(ValueError, match=message) as refused:
        connect(url)
    assert url in str(refused.value)


def test_a_directory_in_the_url_may_hold_plus_and_escapes(tmp_path: Path) -> None:
    """dir= is percent-decoded but '+' stays a '+', as in a path."""
    directory = tmp_path / "a+b c"
    store = memory_store(
        f"memory://escapes-{id(tmp_path)}?dir={str(directory).replace(' ', '%20')}"
    )
    try:
        MemoryClient(store).set("k", "v")
        assert appended_to(store).is_relative_to(directory)
    finally:
        store.close()


def test_a_forked_child_refuses_the_parents_store(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """After os.fork the child's commands on the parent's store raise; the parent's go on."""
    store = stores(data_dir)
    client = MemoryClient(store)
    read, write = os.pipe()
    with warnings.catch_warnings():  # newer Pythons warn of a fork with threads running
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report, then leave without running anything of pytest's
        try:
            client.set("from-child", "1")
            os.write(write, b"written")
        except PersistenceError as error:
            os.write(write, str(error).encode()[:1000])
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as stream:
        said = stream.read().decode()
    os.waitpid(pid, 0)
    assert f"belongs to process {os.getpid()}, which forked this one" in said
    client.set("from-parent", "1")
    assert [b"SET", b"from-child", b"1"] not in logged(store)


# -- crashes --------------------------------------------------------------------------------

PUSHER = """
    import sys, threading
    from queuekit import connect

    client = connect(f"memory://crash?dir={sys.argv[1]}&appendfsync=always")
    print_lock = threading.Lock()

    def push(prefix):
        for index in range(1_000_000):
            value = f"{sys.argv[2]}-{prefix}-{index}"
            client.rpush("crash", value)
            with print_lock:
                print("acked", value, flush=True)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
"""


def test_a_sigkilled_writer_under_always_loses_no_acknowledged_push(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """Killed with SIGKILL mid-writes, cycle after cycle: every acknowledged push is kept, once."""
    rng = random.Random(7)
    acked: set[str] = set()
    for cycle in range(CRASH_CYCLES):
        child = run_child(PUSHER, str(data_dir), str(cycle))
        assert child.stdout is not None
        wanted = rng.randint(*ACKS_BEFORE_KILL)
        lines = [read_report(child, "acked") for _ in range(wanted)]
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=CHILD_TIMEOUT_S)
        acked.update(lines)
        acked.update(line.split()[1] for line in rest.splitlines() if line.startswith("acked "))

    store = stores(data_dir, clock=None)
    values = [value.decode() for value in MemoryClient(store).lrange("crash", 0, -1)]
    assert len(values) == len(set(values)), "a push was applied twice"
    missing = acked - set(values)
    assert not missing, f"{len(missing)} acknowledged pushes lost, e.g. {sorted(missing)[:3]}"


ENQUEUER = """
    import sys, time
    from queuekit import JobClient, connect

    client = JobClient(connect(f"memory://jobs?dir={sys.argv[1]}&appendfsync=always"))
    job = client.enqueue("app.report", 42, _queue="reports")
    print("enqueued", job.id, flush=True)
    time.sleep(600)  # killed before this ends
"""


def test_a_job_enqueued_before_a_kill_is_still_queued_and_runs_after_reopen(
    stores: Callable[..., MemoryStore], data_dir: Path
) -> None:
    """Enqueue on a persistent memory:// store, SIGKILL the process: the job waits, then runs."""
    child = run_child(ENQUEUER, str(data_dir))
    assert child.stdout is not None
    job_id = read_report(child, "enqueued")
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=CHILD_TIMEOUT_S)

    client = MemoryClient(stores(data_dir, clock=None))
    assert Job(client, job_id, "reports").status() is JobStatus.QUEUED
    tasks, ran = TaskSet(), []

    @tasks.task(name="app.report")
    def report(value: int) -> None:
        ran.append(value)

    summary = Worker(client, tasks, queues=["reports"]).run_burst()
    assert (summary.succeeded, ran) == (1, [42])
    assert Job(client, job_id, "reports").status() is JobStatus.SUCCEEDED
