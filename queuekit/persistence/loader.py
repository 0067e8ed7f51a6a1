"""Reading append-only files: `load` / `load_files` replay them, `check_aof` checks or fixes one.

The file is RESP text, one command after another, each an array of bulk
strings (`*2\\r\\n$3\\r\\nDEL\\r\\n$1\\r\\nk\\r\\n`), as Redis writes it.

Rules (Redis's loadAppendOnlyFile and redis-check-aof):
1. A file that ends inside a command lost its tail in a crash: that last
   command is dropped with a warning naming the byte offset where it began,
   and the load succeeds. A file that ends inside MULTI without its EXEC
   drops the whole transaction the same way, so a replay never applies
   half of one. Of the files of a multi-part AOF (`load_files`, base then
   incrs) only the last may end so; in an earlier one it is corruption.
2. Anything malformed before the end, and a command the engine does not
   know, is corruption: `CorruptFileError` names the file and byte offset,
   and nothing is loaded past it. `queuekit check-aof --fix` is the way out.
3. Loading never writes to the file. `check_aof(fix=True)` truncates it to
   the last valid command; `drop_truncated_tail`, called by whoever appends
   to the file after loading it, cuts the half command a load dropped and
   keeps those bytes in a side file.
4. Replay runs in loading mode (queuekit.engine.db rule 5): nothing expires
   while commands replay, so each sees what the original saw. After the
   replay, keys whose deadline passed (say, while the server was down) are
   deleted, reported to the engine's propagator as DELs if one is attached.
5. A replayed command that answers an error reply (as a WRONGTYPE would) is
   counted, not fatal: Redis's loader discards replies the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import structlog

from queuekit.engine.engine import Engine
from queuekit.engine.errors import CommandError
from queuekit.engine.session import Session
from queuekit.errors import CorruptFileError, PersistenceError

log = structlog.get_logger(__name__)

# A header line ("*3", "$5") is at most this long with its CRLF; a longer one
# is corruption, not a line worth reading to the end (Redis reads 128 bytes).
MAX_HEADER_BYTES = 128
# No bulk string is longer than proto-max-bulk-len (512 MB), no command has
# more arguments than the request parser accepts (Redis's 1024*1024*1024 is
# a C int limit; a count this large in a small file is corruption anyway).
MAX_BULK_BYTES = 512 * 1024 * 1024
MAX_ARGUMENTS = 1024 * 1024
# What to do about a damaged file that is not the last of a multi-part AOF.
NOT_LAST_REMEDY = "restore it from a backup: check-aof --fix cuts only the last file"


@dataclass(frozen=True, slots=True)
class FileLoad:
    """One file's part of a load: commands replayed, bytes used, the dropped tail if any."""

    path: str
    commands: int
    valid_bytes: int  # the offset just past the last command replayed
    file_bytes: int
    truncated_at: int | None  # where the dropped, incomplete tail began
    error_replies: int  # replayed commands that answered an error reply


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load did: each file's part, in order, and the keys found expired after it.

    Only the last file may have lost its tail (rule 1), so `path`,
    `valid_bytes`, `file_bytes` and `truncated_at` are the last file's.
    """

    files: tuple[FileLoad, ...]
    expired_keys: int  # keys whose deadline had passed, deleted after the replay

    @property
    def last(self) -> FileLoad:
        return self.files[-1]

    @property
    def path(self) -> str:
        return self.last.path

    @property
    def valid_bytes(self) -> int:
        return self.last.valid_bytes

    @property
    def file_bytes(self) -> int:
        return self.last.file_bytes

    @property
    def truncated_at(self) -> int | None:
        return self.last.truncated_at

    @property
    def commands(self) -> int:
        return sum(part.commands for part in self.files)

    @property
    def error_replies(self) -> int:
        return sum(part.error_replies for part in self.files)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What `check_aof` found: ok, a truncated tail, or corruption at an offset."""

    path: str
    commands: int
    valid_bytes: int  # the offset just past the last valid command
    file_bytes: int
    status: str  # "ok", "truncated", "corrupt" or "missing" (a listed file: aofdir)
    reason: str  # empty when ok
    fixed: bool  # the file was truncated to `valid_bytes`
    # False for a file of a multi-part AOF that is not the last: cutting it
    # would drop what the later files build on (rule 1).
    fixable: bool = True

    def describe(self) -> str:
        """One paragraph for a person, as redis-check-aof prints it."""
        if self.status == "ok":
            return f"AOF {self.path} is valid: {self.commands} commands, {self.file_bytes} bytes"
        if self.status == "missing":
            return f"AOF {self.path} is missing: the manifest lists it, restore it from a backup"
        text = (
            f"AOF {self.path} is {self.status} at byte offset {self.valid_bytes}: {self.reason}; "
            f"{self.commands} valid commands before it"
        )
        if not self.fixable:
            return text + (
                "; it is not the last file of the AOF, so --fix will not cut it: "
                "restore it from a backup"
            )
        lost = self.file_bytes - self.valid_bytes
        text += (
            f"; fixing truncates the file from {self.file_bytes} to {self.valid_bytes} bytes, "
            f"losing {lost} bytes"
        )
        return text + (" (fixed)" if self.fixed else "")


class _Truncated(Exception):
    """The file ended inside a command that began at `offset`."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


class _Corrupt(Exception):
    """A malformed byte sequence at `offset`."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


# -- parsing ---------------------------------------------------------------------


class _Reader:
    """Commands out of a binary file, each with the byte offset it starts at."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.offset = 0

    def commands(self) -> Iterator[tuple[int, list[bytes]]]:
        while True:
            start = self.offset
            line = self._line(start, allow_eof=True)
            if line is None:
                return
            if line[:1] != b"*":
                raise _Corrupt(start, f"expected '*' to start a command, got {line[:16]!r}")
            count = self._number(line, start, MAX_ARGUMENTS)
            if count == 0:
                raise _Corrupt(start, f"a command has {count} arguments, at least 1 is needed")
            yield start, [self._bulk(start) for _ in range(count)]

    def _line(self, start: int, *, allow_eof: bool = False) -> bytes | None:
        at = self.offset
        raw = self.stream.readline(MAX_HEADER_BYTES)
        self.offset += len(raw)
        if not raw:
            if allow_eof:
                return None
            raise _Truncated(start, f"the file ends at byte {at} inside a command")
        if not raw.endswith(b"\n"):
            if len(raw) < MAX_HEADER_BYTES:
                raise _Truncated(start, f"the file ends at byte {self.offset} inside a header")
            raise _Corrupt(at, f"a header line is longer than {MAX_HEADER_BYTES} bytes")
        if not raw.endswith(b"\r\n"):
            raise _Corrupt(at, f"a header line ends without CRLF: {raw[:16]!r}")
        return raw[:-2]

    def _number(self, line: bytes, at: int, limit: int) -> int:
        digits = line[1:]
        if not digits.isdigit():
            raise _Corrupt(at, f"{line[:16]!r} is not a count")
        value = int(digits)
        if value > limit:
            raise _Corrupt(at, f"{line[:16]!r} is over the limit of {limit}")
        return value

    def _bulk(self, start: int) -> bytes:
        at = self.offset
        line = self._line(start)
        assert line is not None
        if line[:1] != b"$":
            raise _Corrupt(at, f"expected '$' to start an argument, got {line[:16]!r}")
        size = self._number(line, at, MAX_BULK_BYTES)
        data = self.stream.read(size + 2)
        self.offset += len(data)
        if len(data) < size + 2:
            raise _Truncated(start, f"the file ends at byte {self.offset} inside an argument")
        if data[size:] != b"\r\n":
            raise _Corrupt(at + len(line) + 2 + size, "an argument is not followed by CRLF")
        return data[:size]


def _is(argv: list[bytes], name: bytes) -> bool:
    return len(argv) == 1 and argv[0].upper() == name


# -- loading ----------------------------------------------------------------------


def load(path: str | os.PathLike[str], engine: Engine) -> LoadReport:
    """Replay the append-only file at `path` into `engine`; see the module rules.

    Raises CorruptFileError (rule 2), PersistenceError if the file cannot be read.
    """
    return load_files([path], engine)


def load_files(paths: Sequence[str | os.PathLike[str]], engine: Engine) -> LoadReport:
    """Replay the files of a multi-part AOF into `engine`, in order, as one log.

    Only the last file may end inside a command (rule 1); an earlier one
    that does lost data that later files built on, and is refused with
    CorruptFileError, as Redis refuses "a truncated file that is not the
    last file". Expired keys are purged once, after the last file (rule 4):
    a key the base holds with a deadline may still have been live for the
    commands of the files that follow it.
    """
    if not paths:
        raise ValueError("load_files needs at least one file")
    names = [os.fspath(path) for path in paths]
    parts: list[FileLoad] = []
    with _loading(engine):
        for name in names:
            is_last = name == names[-1]
            try:
                part = _replay(name, engine)
            except CorruptFileError as bad:
                if is_last:
                    raise
                raise CorruptFileError(bad.path, bad.offset, bad.reason, NOT_LAST_REMEDY) from None
            if part.truncated_at is not None and not is_last:
                raise CorruptFileError(
                    name,
                    part.truncated_at,
                    "the file ends inside a command, and it is not the last file of the AOF "
                    "(only the last one may lose its tail in a crash)",
                    NOT_LAST_REMEDY,
                )
            parts.append(part)
    expired = purge_expired(engine)
    last = parts[-1]
    if last.truncated_at is not None:
        log.warning(
            "aof_truncated_tail_dropped",
            path=last.path,
            offset=last.truncated_at,
            dropped_bytes=last.file_bytes - last.truncated_at,
            reason="the file ends inside its last command (or transaction)",
        )
    return LoadReport(tuple(parts), expired)


@contextlib.contextmanager
def _loading(engine: Engine) -> Iterator[None]:
    """Loading mode (rule 4), with nothing propagated and nothing evicted meanwhile."""
    db = engine.db
    propagator, engine.propagator = engine.propagator, None
    on_delete, db.on_delete = db.on_delete, None
    maxmemory, engine.maxmemory = engine.maxmemory, 0  # Redis evicts nothing while loading
    db.loading = True
    try:
        yield
    finally:
        db.loading = False
        engine.maxmemory = maxmemory
        engine.propagator = propagator
        db.on_delete = on_delete


def drop_truncated_tail(path: str, valid_bytes: int, file_bytes: int) -> None:
    """Cut the incomplete last command the load dropped, as Redis does.

    New writes are appended at the end: left in place, that half command
    would sit in the middle of the file and make the next start-up refuse
    it as corrupt. Under `always` it was never acknowledged (a reply waits
    for its whole command to be on disk); under everysec or no it is part of
    the loss those policies document for a power cut. The cut bytes are kept
    in `<path>.truncated-<offset>`: nothing is removed behind the user's back.
    """
    kept = f"{path}.truncated-{valid_bytes}"
    with open(path, "rb") as source, open(kept, "wb") as side:
        source.seek(valid_bytes)
        side.write(source.read())
    os.truncate(path, valid_bytes)
    log.warning(
        "aof_truncated_tail_removed",
        path=path,
        offset=valid_bytes,
        dropped_bytes=file_bytes - valid_bytes,
        kept_in=kept,
    )


def _replay(path: str, engine: Engine) -> FileLoad:
    try:
        with open(path, "rb") as stream:
            return _replay_stream(stream, path, engine)
    except OSError as error:
        raise PersistenceError(f"cannot read the append only file {path}: {error}") from error


def _replay_stream(stream: BinaryIO, path: str, engine: Engine) -> FileLoad:
    session = Session()
    size = os.fstat(stream.fileno()).st_size
    reader = _Reader(stream)
    commands = replayed = valid = error_replies = 0
    truncated: int | None = None
    multi_at: int | None = None  # where an open MULTI began (rule 1)
    try:
        for offset, argv in reader.commands():
            if _is(argv, b"MULTI"):
                multi_at = offset
            error_replies += _run(engine, session, argv, path, offset)
            replayed += 1
            if multi_at is None or _is(argv, b"EXEC"):
                multi_at = None
                commands, valid = replayed, reader.offset
    except _Truncated as end:
        truncated = end.offset
    except _Corrupt as bad:
        raise CorruptFileError(path, bad.offset, bad.reason) from None
    if multi_at is not None:
        truncated = multi_at
        session.multi = None  # the open transaction is dropped, never run
    return FileLoad(path, commands, valid, size, truncated, error_replies)


def _run(engine: Engine, session: Session, argv: list[bytes], path: str, offset: int) -> int:
    """Replay one command; 1 if it answered an error reply (rule 5)."""
    cmd = engine.commands.get(argv[0]) or engine.commands.get(argv[0].lower())
    if cmd is None:
        name = argv[0][:64].decode("utf-8", "replace")
        raise CorruptFileError(path, offset, f"unknown command {name!r}")
    try:
        # A blocking command with nothing to pop answers Blocked; like Redis's
        # loader, nothing waits for it.
        engine.execute(session, argv)
    except CommandError:
        return 1
    return 0


def purge_expired(engine: Engine) -> int:
    """Delete every key whose deadline has passed (rule 4); how many."""
    db = engine.db
    now = db.clock.now_ms()
    due = [key for key, when in db.expires.items() if when < now]
    for key in due:
        db.expire_now(key)
    return len(due)


# -- checking and fixing ------------------------------------------------------------


def check_aof(path: str | os.PathLike[str], *, fix: bool = False) -> CheckReport:
    """Check the file's format (not its commands' meaning); with `fix`, truncate
    it to the last valid command, as `redis-check-aof --fix` does."""
    name = os.fspath(path)
    commands = valid = 0
    multi: tuple[int, int] | None = None  # (commands, offset) at an open MULTI
    status, reason = "ok", ""
    try:
        with open(name, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            reader = _Reader(stream)
            try:
                for offset, argv in reader.commands():
                    if _is(argv, b"MULTI"):
                        if multi is not None:
                            raise _Corrupt(offset, "MULTI inside MULTI")
                        multi = (commands, offset)
                    elif _is(argv, b"EXEC"):
                        if multi is None:
                            raise _Corrupt(offset, "EXEC without MULTI")
                        multi = None
                    commands += 1
                    if multi is None:
                        valid = reader.offset
            except (_Truncated, _Corrupt) as problem:
                status = "truncated" if isinstance(problem, _Truncated) else "corrupt"
                reason = problem.reason
    except OSError as error:
        raise PersistenceError(f"cannot read the append only file {name}: {error}") from error
    if multi is not None:
        commands = multi[0]
        if status == "ok":
            status, reason = "truncated", "the file ends inside MULTI, before its EXEC"
    fixed = False
    if fix and status != "ok":
        with open(name, "r+b") as stream:
            stream.truncate(valid)
            stream.flush()
            os.fsync(stream.fileno())
        fixed = True
    return CheckReport(name, commands, valid, size, status, reason, fixed)
