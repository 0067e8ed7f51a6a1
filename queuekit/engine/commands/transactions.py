"""MULTI, EXEC, DISCARD, WATCH, UNWATCH: optimistic transactions.

Rules (Redis's multi.c):
1. Between MULTI and EXEC commands are queued, not run. A command refused at
   queue time (unknown, wrong arity, OOM) dooms the transaction: EXEC answers
   EXECABORT and runs nothing.
2. EXEC runs the queue with nothing interleaved; an error in one command is
   that command's reply, the rest still run. A blocking pop acts as its
   non-blocking form. Waiters woken by the transaction's writes are served
   after EXEC, by the dispatcher.
3. EXEC answers a null array, running nothing, if a WATCHed key was modified,
   deleted, expired or flushed since WATCH.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from queuekit.engine import errors
from queuekit.engine.command import NO_KEYS, command
from queuekit.engine.errors import CommandError
from queuekit.engine.replies import NULL_ARRAY, OK, Blocked, Reply

if TYPE_CHECKING:
    from queuekit.engine.engine import Engine
    from queuekit.engine.session import Session


def multi(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """MULTI"""
    if session.multi is not None:
        raise CommandError(errors.MULTI_NESTED)
    session.multi = []
    session.multi_failed = False
    return OK


def exec_(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """EXEC"""
    queued = session.multi
    if queued is None:
        raise CommandError(errors.EXEC_WITHOUT_MULTI)
    failed = session.multi_failed
    session.multi = None
    session.multi_failed = False
    aborted = session.watch_dirty or _watched_key_expired(engine, session)
    unwatch_all(engine, session)
    if failed:
        raise CommandError(errors.EXECABORT)
    if aborted:
        return NULL_ARRAY
    replies: list[Reply] = []
    propagator = engine.propagator
    if propagator is not None:
        propagator.begin_exec()
    engine.in_exec = True
    try:
        for call_argv in queued:
            cmd = engine.commands.get(call_argv[0]) or engine.commands[call_argv[0].lower()]
            try:
                reply = engine.call(cmd, session, call_argv)
            except CommandError as error:
                reply = error
            if type(reply) is Blocked:
                reply = reply.reply_in_multi()
            replies.append(reply)
    finally:
        engine.in_exec = False
    if propagator is not None:
        propagator.end_exec()
    return replies


def discard(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """DISCARD"""
    if session.multi is None:
        raise CommandError(errors.DISCARD_WITHOUT_MULTI)
    session.multi = None
    session.multi_failed = False
    unwatch_all(engine, session)
    return OK


def watch(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """WATCH key [key ...]"""
    if session.multi is not None:
        raise CommandError(errors.WATCH_IN_MULTI)
    db = engine.db
    for key in argv[1:]:
        if key in session.watched:
            continue
        # Redis 7.0 remembers whether the key was already expired when watched,
        # so that only an expiry *after* WATCH aborts the transaction.
        session.watched[key] = db.is_expired(key)
        db.watchers.setdefault(key, set()).add(session)
    return OK


def unwatch(engine: Engine, session: Session, argv: Sequence[bytes]) -> Reply:
    """UNWATCH"""
    unwatch_all(engine, session)
    return OK


def unwatch_all(engine: Engine, session: Session) -> None:
    """Forget every WATCH of `session` (EXEC, DISCARD, UNWATCH, disconnect)."""
    watchers = engine.db.watchers
    for key in session.watched:
        sessions = watchers.get(key)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del watchers[key]
    session.watched.clear()
    session.watch_dirty = False


def _watched_key_expired(engine: Engine, session: Session) -> bool:
    db = engine.db
    return any(
        not expired_when_watched and db.is_expired(key)
        for key, expired_when_watched in session.watched.items()
    )


COMMANDS = (
    command("multi", 1, "noscript loading stale fast no-queue", NO_KEYS, multi, takes_session=True),
    command("exec", 1, "noscript loading stale no-queue", NO_KEYS, exec_, takes_session=True),
    command(
        "discard", 1, "noscript loading stale fast no-queue", NO_KEYS, discard, takes_session=True
    ),
    command(
        "watch", -2, "noscript loading stale fast no-queue", (1, -1, 1), watch, takes_session=True
    ),
    command("unwatch", 1, "noscript loading stale fast", NO_KEYS, unwatch, takes_session=True),
)
