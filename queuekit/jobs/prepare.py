"""From an enqueue call to the commands that enqueue it, with nothing sent (sans-IO).

`call(task, *args, _delay=..., **kwargs)` splits the enqueue options (the
underscore-prefixed keywords) from the task's keyword arguments; `prepare`
checks every option, encodes the envelope and builds the MULTI/EXEC body and,
for a deduplicated or fixed-id job, the txn plan that guards it. Whatever is
wrong raises here, before any client sends a byte (producer.py, rule 1).

Enqueue options, each overriding the task's option of the same name:
    _queue       queue name                 _priority   level 0..2 or high/default/low
    _delay       seconds from now           _at         datetime (aware) or Unix seconds
    _job_id      the job's id (a duplicate returns None)
    _dedup_key   dedup key (a duplicate returns None)
    _dedup_ttl   seconds the dedup key holds (a window instead of the dedup set)
    _retries     retry count                _timeout    seconds a run may take
    _result_ttl  seconds the result is kept (results are stored only when set)
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from queuekit.errors import InvalidOptionError
from queuekit.jobs import options as check
from queuekit.jobs.envelope import Envelope, encode
from queuekit.jobs.keys import QueueKeys, queue_keys, validate_queue
from queuekit.jobs.options import TaskOptions
from queuekit.jobs.tasks import Task
from queuekit.jobs.txn import Body, Command, Plan

if TYPE_CHECKING:
    from queuekit.engine.clock import Clock
    from queuekit.jobs.settings import JobSettings
    from queuekit.jobs.tasks import TaskSet

ENQUEUE_OPTIONS = frozenset(
    {
        "_queue",
        "_delay",
        "_at",
        "_job_id",
        "_dedup_key",
        "_dedup_ttl",
        "_priority",
        "_retries",
        "_timeout",
        "_result_ttl",
    }
)
ID_MAX_BYTES = 200  # job ids and dedup keys become parts of key names
DEFAULT_OPTIONS = TaskOptions()


@dataclass(frozen=True, slots=True)
class Call:
    """One enqueue, not yet checked: the task, its arguments and the `_` options."""

    task: Task[Any, Any] | str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    options: dict[str, Any] | None = None


def call(task: Task[Any, Any] | str, /, *args: Any, **kwargs: Any) -> Call:
    """A Call, with `_`-prefixed keywords taken as enqueue options (unknown ones refused)."""
    options = {name: kwargs.pop(name) for name in [k for k in kwargs if k.startswith("_")]}
    unknown = sorted(set(options) - ENQUEUE_OPTIONS)
    if unknown:
        raise InvalidOptionError(
            f"unknown enqueue option {unknown[0]!r}: "
            f"use one of {', '.join(sorted(ENQUEUE_OPTIONS))} "
            "(task arguments cannot start with '_')"
        )
    return Call(task, args, kwargs, options)


@dataclass(frozen=True, slots=True)
class Prepared:
    """An enqueue ready to send: its body, and its plan when it must be guarded."""

    envelope: Envelope
    body: Body
    plan: Callable[[], Plan] | None  # None: send `body` as it is
    refused: Command  # counts a refusal of the plan in the stats hash
    result_ttl: float | None


@dataclass(frozen=True, slots=True)
class _Dedup:
    key: str | None = None
    window_ms: int | None = None  # None: the dedup set
    release_on_finish: bool = False


def prepare(c: Call, settings: JobSettings, clock: Clock, tasks: TaskSet | None = None) -> Prepared:
    """Check `c`, encode it and build its commands (see the module docstring)."""
    name, defaults = _task(c.task, tasks)
    o = c.options or {}
    queue = defaults.queue if o.get("_queue") is None else validate_queue(o["_queue"])
    level = defaults.level if o.get("_priority") is None else check.priority_level(o["_priority"])
    now = clock.now_ms()
    due = _due_ms(o, now)
    job_id = _identifier("_job_id", o["_job_id"]) if o.get("_job_id") is not None else None
    dedup = _dedup(o, defaults)
    result_ttl = defaults.result_ttl
    job_options: dict[str, Any] = {}
    if o.get("_retries") is not None:
        job_options["retries"] = check.retries(o["_retries"])
    if o.get("_timeout") is not None:
        job_options["timeout"] = check.seconds("_timeout", o["_timeout"])
    if o.get("_result_ttl") is not None:
        result_ttl = job_options["result_ttl"] = check.seconds("_result_ttl", o["_result_ttl"])
    if dedup.release_on_finish:
        job_options["dedup"] = dedup.key
    envelope = Envelope(
        job_id or os.urandom(16).hex(), name, c.args, c.kwargs or {}, queue, now, 0, job_options
    )
    payload = encode(envelope, settings.max_payload_bytes)
    keys = queue_keys(queue)
    body = _body(keys, envelope, payload, level, due, dedup)
    if job_id is None and dedup.key is None:
        return Prepared(envelope, body, None, (), result_ttl)
    counter = b"deduplicated" if dedup.key is not None else b"duplicate_ids"
    refused = (b"HINCRBY", keys.stats, counter, 1)
    guarded = job_id is not None
    return Prepared(
        envelope, body, lambda: _plan(keys, envelope.id, guarded, dedup, body), refused, result_ttl
    )


def _task(task: Task[Any, Any] | str, tasks: TaskSet | None) -> tuple[str, TaskOptions]:
    if isinstance(task, str):
        registered = tasks.get(task) if tasks is not None else None
        if not task:
            raise InvalidOptionError("task name '' is empty")
        return task, registered.options if registered is not None else DEFAULT_OPTIONS
    if not isinstance(task, Task):
        raise TypeError(f"cannot enqueue {task!r}: pass a Task or a task name (str)")
    return task.name, task.options


def _due_ms(o: dict[str, Any], now_ms: int) -> int | None:
    """The due time in Unix ms for `_delay` / `_at`, or None to run now."""
    delay, at = o.get("_delay"), o.get("_at")
    if delay is not None and at is not None:
        raise InvalidOptionError(f"give _delay ({delay!r}) or _at ({at!r}), not both")
    if delay is not None:
        due = now_ms + round(check.seconds("_delay", delay, allow_zero=True) * 1000)
    elif isinstance(at, datetime.datetime):
        if at.tzinfo is None:
            raise InvalidOptionError(f"_at {at!r} has no timezone; pass an aware datetime")
        due = round(at.timestamp() * 1000)
    elif at is not None:
        due = round(check.seconds("_at", at, allow_zero=True) * 1000)
    else:
        return None
    return due if due > now_ms else None


def _identifier(option: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidOptionError(f"{option} {value!r} must be a non-empty str")
    size = len(value.encode())
    if size > ID_MAX_BYTES:
        raise InvalidOptionError(
            f"{option} {value[:40]!r}... is {size} bytes, over the limit of {ID_MAX_BYTES} bytes"
        )
    return value


def _dedup(o: dict[str, Any], defaults: TaskOptions) -> _Dedup:
    key, ttl = o.get("_dedup_key"), o.get("_dedup_ttl")
    if key is None:
        if ttl is not None:
            raise InvalidOptionError(f"_dedup_ttl {ttl!r} needs a _dedup_key")
        return _Dedup()
    key = _identifier("_dedup_key", key)
    window = check.seconds("_dedup_ttl", ttl) if ttl is not None else defaults.dedup
    if isinstance(window, float):
        return _Dedup(key, max(1, round(window * 1000)))
    return _Dedup(key, None, release_on_finish=window == "finish")


def _body(
    keys: QueueKeys, envelope: Envelope, payload: bytes, level: int, due: int | None, dedup: _Dedup
) -> Body:
    """Producer rule 2: the commands of one enqueue, all in the queue's hash tag."""
    job = keys.job(envelope.id)
    fields: list[Any] = [
        b"status",
        b"queued" if due is None else b"scheduled",
        b"task",
        envelope.task,
        b"enqueued_at",
        envelope.enqueued_at,
        b"attempt",
        envelope.attempt,
        b"priority",
        level,
    ]
    if dedup.release_on_finish:
        fields += [b"dedup", dedup.key]
    if due is None:
        place: Command = (b"LPUSH", keys.ready[level], payload)
    else:
        fields += [b"payload", payload]
        place = (b"ZADD", keys.scheduled, due, envelope.id)
    body: Body = [(b"HSET", job, *fields), place, (b"HINCRBY", keys.stats, b"enqueued", 1)]
    if dedup.key is not None and dedup.window_ms is None:
        body.append((b"SADD", keys.dedup, dedup.key))
    elif dedup.key is not None:
        body.append((b"SET", keys.dedup_window(dedup.key), envelope.id, b"PX", dedup.window_ms))
    return body


def batch_body(batch: list[Prepared]) -> Body:
    """One body for many plain enqueues of one queue: the HSETs, then one LPUSH per
    level and one ZADD carrying every payload or id in order, and one HINCRBY.

    A third of the commands of the bodies one by one, with the same effect
    (LPUSH of several elements pushes them in turn, so FIFO order holds).
    """
    hsets: Body = []
    places: dict[tuple[bytes, bytes], list[Any]] = {}
    stats = b""
    for prepared in batch:
        hset, (verb, key, *members), (_, stats, _, _) = prepared.body
        hsets.append(hset)
        places.setdefault((verb, key), []).extend(members)
    merged: Body = [(verb, key, *members) for (verb, key), members in places.items()]
    return [*hsets, *merged, (b"HINCRBY", stats, b"enqueued", len(batch))]


def _plan(keys: QueueKeys, job_id: str, guarded: bool, dedup: _Dedup, body: Body) -> Plan:
    """Producer rule 3: WATCH, check, and return the body only if nothing is taken."""
    watched = [keys.job(job_id)] if guarded else []
    if dedup.key is not None:
        watched.append(keys.dedup if dedup.window_ms is None else keys.dedup_window(dedup.key))
    yield (b"WATCH", *watched)
    if guarded and (yield (b"EXISTS", keys.job(job_id))):
        return None
    if dedup.key is not None and dedup.window_ms is None:
        if (yield (b"SISMEMBER", keys.dedup, dedup.key)):
            return None
    elif dedup.key is not None and (yield (b"EXISTS", keys.dedup_window(dedup.key))):
        return None
    return body
