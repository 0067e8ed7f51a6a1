"""What each executed write becomes in the append-only file (Redis's propagation).

`Propagation` is the engine's `Propagator`: attached to an engine, it turns
every write the engine reports into the commands the AOF records, as RESP
frames, and hands them out in order with `take()`. Replaying those frames into
an empty engine, in loading mode, rebuilds the same dataset, TTLs included.

Rules (each one is what Redis's own code does, cited by function):

1. Time is pinned: a relative TTL becomes the absolute deadline it produced.
   EXPIRE, PEXPIRE, EXPIREAT and GETEX EX|PX|EXAT|PXAT are logged as
   PEXPIREAT key ms, or as DEL key when the deadline was already due and the
   key is gone (expireGenericCommand); SET EX|PX|EXAT, SETEX and PSETEX as
   SET key value PXAT ms (setGenericCommand); GETEX PERSIST as PERSIST.
2. Chance is pinned: SPOP is logged as SREM of the members it popped
   (spopCommand, spopWithCountCommand).
3. Waiting is pinned: a blocking pop, served at once or later, is logged as the
   non-blocking pop that happened on the key that served it: BLPOP -> LPOP
   key, BLMOVE -> LMOVE, BRPOPLPUSH -> RPOPLPUSH, BZPOPMIN -> ZPOPMIN key;
   BLMPOP and LMPOP -> LPOP|RPOP key count, BZMPOP and ZMPOP -> ZPOPMIN|ZPOPMAX
   key count (Redis's "Replicate it as [LR]POP COUNT"). A command that parked
   is not logged until it is served.
4. Floats are pinned: INCRBYFLOAT is logged as SET key result KEEPTTL,
   HINCRBYFLOAT as HSET key field result, so a replay never re-rounds.
5. A write that changed nothing (its reply says so: DEL 0, SADD 0, a pop of
   nothing, SET NX refused...) is not logged. When a reply cannot tell, the
   command is logged as it came: replaying a deterministic no-op is harmless.
6. A key the keyspace removed on its own (lazy or active expiry, eviction) is
   logged as DEL key where it happened, before the command that met it
   (propagateDeletion), so a replay that does not expire agrees.
7. EXEC's writes are wrapped in MULTI ... EXEC; a transaction that wrote
   nothing logs nothing (execCommand propagates MULTI at the first write).
8. A command that answered an error is not logged: the engine's handlers
   check everything before they write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from queuekit.engine.commands.strings import (
    EXPIRY,
    GET,
    GETEX_OPTIONS,
    KEEPTTL,
    NX,
    PERSIST,
    SET_OPTIONS,
    XX,
    parse_options,
)
from queuekit.engine.replies import NULL_ARRAY, Blocked, Reply
from queuekit.resp.encoder import encode_commands

if TYPE_CHECKING:
    from queuekit.engine.command import Command
    from queuekit.engine.db import Database
    from queuekit.engine.engine import Engine

Argv = Sequence[bytes]
# A rewriter: (db after the command, argv, reply) -> the commands to log instead.
Rewriter = Callable[["Database", Argv, Reply], list[Argv]]

# Writes whose integer reply 0 means nothing changed (rule 5).
NOTHING_WHEN_ZERO = frozenset(
    {
        "del",
        "unlink",
        "persist",
        "renamenx",
        "setnx",
        "msetnx",
        "sadd",
        "srem",
        "smove",
        "hsetnx",
        "hdel",
        "zrem",
        "zremrangebyrank",
        "zremrangebyscore",
        "zremrangebylex",
        "lrem",
        "lpushx",
        "rpushx",
    }
)
# Writes whose null or empty reply means nothing changed (rule 5).
NOTHING_WHEN_EMPTY = frozenset(
    {"lpop", "rpop", "lmove", "rpoplpush", "getdel", "zpopmin", "zpopmax"}
)


def nothing(reply: Reply) -> bool:
    """A null, a null array or an empty array: what a pop of nothing answers.

    An empty bulk string is a real element, so `not reply` will not do.
    """
    return reply is None or reply is NULL_ARRAY or (isinstance(reply, list) and not reply)


class Propagation:
    """Collects the AOF frames of an engine's writes; see the module docstring.

    `attach()` makes it the engine's propagator and the keyspace's deletion
    listener; `take()` returns the frames logged since the last call, in
    order, as one bytes object (what `AppendOnlyFile.append` takes).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.db = engine.db
        # The commands to log, encoded by `take()` in one go: cheaper than
        # one encoding per command (the engine never changes an argv it ran).
        self._frames: list[Argv] = []
        # Inside EXEC: the commands of its body, wrapped at end_exec (rule 7).
        self._exec: list[Argv] | None = None

    def attach(self) -> None:
        self.engine.propagator = self
        self.db.on_delete = self.deleted

    def detach(self) -> None:
        if self.engine.propagator is self:
            self.engine.propagator = None
        if self.db.on_delete == self.deleted:
            self.db.on_delete = None

    # -- the engine's Propagator protocol -----------------------------------

    def executed(self, cmd: Command, argv: Argv, reply: Reply) -> None:
        if type(reply) is Blocked:
            return  # parked: logged when served (rule 3)
        rewriter = REWRITERS.get(cmd.name)
        if rewriter is not None:
            for logged in rewriter(self.db, argv, reply):
                self._emit(logged)
            return
        if cmd.name in NOTHING_WHEN_ZERO and reply == 0:
            return
        if cmd.name in NOTHING_WHEN_EMPTY and nothing(reply):
            return
        self._emit(argv)

    def begin_exec(self) -> None:
        self._exec = []

    def end_exec(self) -> None:
        body, self._exec = self._exec, None
        if body:
            self._frames.append((b"MULTI",))
            self._frames.extend(body)
            self._frames.append((b"EXEC",))

    def deleted(self, key: bytes) -> None:
        """The keyspace removed `key` on its own (rule 6)."""
        self._emit((b"DEL", key))

    # -- output ----------------------------------------------------------------

    def _emit(self, argv: Argv) -> None:
        if self._exec is not None:
            self._exec.append(argv)
        else:
            self._frames.append(argv)

    def pending(self) -> bool:
        return bool(self._frames)

    def take(self) -> bytes:
        """The frames logged since the last call (b"" if none), and forget them."""
        if not self._frames:
            return b""
        frames = encode_commands(self._frames)
        self._frames.clear()
        return frames


# -- rewriters, one per command whose logged form differs ------------------------


def _deadline_or_del(db: Database, key: bytes) -> list[Argv]:
    """Rule 1: the key's absolute deadline, or DEL if the command removed it."""
    if key not in db.data:
        return [(b"DEL", key)]
    when = db.expires.get(key)
    if when is None:
        return [(b"PERSIST", key)]
    return [(b"PEXPIREAT", key, b"%d" % when)]


def _expire(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
    """EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: 0 changed nothing."""
    if reply != 1:
        return []
    return _deadline_or_del(db, argv[1])


def _set_happened(flags: int, reply: Reply) -> bool:
    """Whether SET wrote, from its reply alone (setGenericCommand's order).

    Without GET the reply is OK or a refusal's null. With GET it is the old
    value: NX wrote iff there was none, XX wrote iff there was one.
    """
    if not flags & GET:
        return reply is not None
    if flags & NX:
        return reply is None
    if flags & XX:
        return reply is not None
    return True


def _set(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
    """SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT t|KEEPTTL]"""
    key, value = argv[1], argv[2]
    if len(argv) == 3:
        return [argv]
    flags, _ = parse_options(argv, 3, SET_OPTIONS)  # valid: the command ran
    if not _set_happened(flags, reply):
        return []
    if flags & EXPIRY:
        return [(b"SET", key, value, b"PXAT", b"%d" % db.expires[key])]
    if flags & KEEPTTL:
        return [(b"SET", key, value, b"KEEPTTL")]
    return [(b"SET", key, value)]


def _setex(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
    """SETEX key seconds value, PSETEX key milliseconds value"""
    key = argv[1]
    return [(b"SET", key, argv[3], b"PXAT", b"%d" % db.expires[key])]


def _getex(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
    """GETEX key [EX|PX|EXAT|PXAT t|PERSIST]: with no option it is a read."""
    if reply is None or len(argv) == 2:
        return []
    flags, _ = parse_options(argv, 2, GETEX_OPTIONS)
    if flags & PERSIST:
        return [(b"PERSIST", argv[1])]
    return _deadline_or_del(db, argv[1])


def _copy(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
    """COPY source destination ...: a copy whose deadline was already due is a DEL.

    The engine deletes such a copy at once; replaying COPY in loading mode
    would keep it, so the effect is logged instead.
    """
    if reply != 1:
        return []
    if argv[2] not in db.data:
        return [(b"DEL", argv[2])]
    return [argv]


def _incrbyfloat(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
    """INCRBYFLOAT key increment -> SET key result KEEPTTL (rule 4)."""
    return [(b"SET", argv[1], reply, b"KEEPTTL")]


def _hincrbyfloat(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
    """HINCRBYFLOAT key field increment -> HSET key field result (rule 4)."""
    return [(b"HSET", argv[1], argv[2], reply)]


def _spop(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
    """SPOP key [count] -> SREM key member ... (rule 2)."""
    if reply is None:
        return []
    members = [reply] if type(reply) is bytes else sorted(reply)
    if not members:
        return []
    return [(b"SREM", argv[1], *members)]


def _pop_as(name: bytes) -> Rewriter:
    """BLPOP/BRPOP/BZPOPMIN/BZPOPMAX key ... timeout -> NAME served-key (rule 3)."""

    def rewrite(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
        if nothing(reply):
            return []
        return [(name, reply[0])]

    return rewrite


def _move_as(name: bytes, arguments: int) -> Rewriter:
    """BLMOVE -> LMOVE src dst from to; BRPOPLPUSH -> RPOPLPUSH src dst (rule 3)."""

    def rewrite(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
        if reply is None or reply is NULL_ARRAY:
            return []
        return [(name, *argv[1 : 1 + arguments])]

    return rewrite


def _mpop_as(left: bytes, right: bytes, numkeys_at: int) -> Rewriter:
    """[B]LMPOP/[B]ZMPOP -> LPOP|RPOP or ZPOPMIN|ZPOPMAX key count (rule 3)."""

    def rewrite(db: Database, argv: Argv, reply: Reply) -> list[Argv]:
        if nothing(reply):
            return []
        where = argv[numkeys_at + 1 + int(argv[numkeys_at])].upper()
        name = left if where in (b"LEFT", b"MIN") else right
        key, popped = reply
        return [(name, key, b"%d" % len(popped))]

    return rewrite


REWRITERS: dict[str, Rewriter] = {
    "expire": _expire,
    "pexpire": _expire,
    "expireat": _expire,
    "pexpireat": _expire,
    "set": _set,
    "setex": _setex,
    "psetex": _setex,
    "getex": _getex,
    "copy": _copy,
    "incrbyfloat": _incrbyfloat,
    "hincrbyfloat": _hincrbyfloat,
    "spop": _spop,
    "blpop": _pop_as(b"LPOP"),
    "brpop": _pop_as(b"RPOP"),
    "bzpopmin": _pop_as(b"ZPOPMIN"),
    "bzpopmax": _pop_as(b"ZPOPMAX"),
    "blmove": _move_as(b"LMOVE", 4),
    "brpoplpush": _move_as(b"RPOPLPUSH", 2),
    "lmpop": _mpop_as(b"LPOP", b"RPOP", 1),
    "blmpop": _mpop_as(b"LPOP", b"RPOP", 2),
    "zmpop": _mpop_as(b"ZPOPMIN", b"ZPOPMAX", 1),
    "bzmpop": _mpop_as(b"ZPOPMIN", b"ZPOPMAX", 2),
}
