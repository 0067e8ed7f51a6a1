"""One fetched job, from its payload to the writes of its outcome (sans-IO).

`process(ctx, queue, payload)` is a generator in the manner of txn.py's
plans: it yields what it needs and is sent the answer,

    a command (tuple)    -> its reply
    a body (list)        -> the replies of the body, run in one MULTI/EXEC
    Invoke(task, ...)    -> a Ran: the driver ran the task (`run_sync` / `run_async`)

and returns the job's Outcome. The sync and the async worker (worker.py)
drive the same plan, so they behave the same on every store.

Steps, for a payload popped from a ready list of `queue`:
1. Decode. Undecodable: counted (stats `undecodable`) and, if the payload
   still names its id, recorded as failed with the reason "undecodable".
2. Find the task by name in the TaskSet. Unknown name: failed with the
   reason "unknown task <name>"; nothing is imported or called.
3. One round trip (a MULTI in the burst worker): HMGET the job's status
   and dedup key, HSET status running, started_at and worker, and
   (rate-limited tasks) count the start in its window (ratelimit.py). A
   cancelled job is skipped, not run, its status put back. A job whose hash
   says running, succeeded or failed already was delivered twice: the store
   lost the pop that took it the first time (a Redis failover rolls back the
   writes the replica had not received). It runs again, and stats count
   `delivered_twice` with its outcome (a `job_delivered_twice` warning names
   it). Over the limit:
   deferred to the window's end through the scheduled set (payload in the
   job hash, status scheduled, stats `rate_limited`); never dropped. The
   worker runtime starts a job that needs none of these answers (a known
   task without a rate limit: `eager_invoke`) beside the round trip.
4. Run the task under its timeout (the job's `_timeout`, else the task's).
5. The outcome, in one MULTI/EXEC inside the queue's hash tag:
   - success: status succeeded; the hash expires after the task's
     finished_ttl (at least the result TTL); the result only if `_result_ttl`
     or the task's result_ttl asks (job.result_only_body); stats `succeeded`.
   - `Retry(delay)` raised, or an error with attempts left (attempt <
     `_retries` or the task's retries): the envelope with attempt+1 goes back
     to the scheduled set, due after the delay; status scheduled; stats `retried`.
   - otherwise: an entry in the failed registry (failed.failure_body),
     status failed, an error result if a result TTL asks; stats `failed`.
   A job that finishes (succeeded or failed, not retried or deferred)
   releases its dedup key when the policy is "finish" (the hash's `dedup`).

The steps are also offered as halves, `fetched` (1, 2), `start_commands`
and `settle` (3), `finish` (5), so the worker runtime can start and finish a
whole batch of jobs in one MULTI each; `process` drives them for one job.

Timeouts, exactly:
- An async task is cancelled at the timeout (asyncio.timeout): the run is
  a TimeoutError failure.
- A sync task cannot be interrupted (it runs in the worker's thread, or a
  pool thread under the async worker). It runs to its end; if that took
  longer than the timeout (time.monotonic), whatever it returned or raised is
  discarded and the run is a TimeoutError failure. It is never a success;
  the side effects it made remain.
Either way the failure is retried if attempts remain, else recorded as
failed, and the stats count `timed_out` as well.

Backoff: after the failure of attempt a (0 for the first run) the retry
waits backoff * 2**a seconds, capped at MAX_BACKOFF_S, times (1 + JITTER * u)
with u uniform in [0, 1): within [base, base * (1 + JITTER)].
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import math
import random
import sys
import time
import traceback
from collections.abc import Generator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import structlog

from queuekit.engine.clock import Clock
from queuekit.errors import MalformedPayloadError
from queuekit.jobs import ratelimit
from queuekit.jobs.envelope import Envelope, decode, encode, recover_id
from queuekit.jobs.failed import failure_body
from queuekit.jobs.job import result_only_body
from queuekit.jobs.keys import QueueKeys, queue_keys
from queuekit.jobs.options import seconds
from queuekit.jobs.tasks import Task, TaskSet
from queuekit.jobs.txn import Body, Command

log = structlog.get_logger(__name__)

MAX_BACKOFF_S = 24 * 3600.0  # a day: past that a retry is no longer a retry
JITTER = 0.25  # up to a quarter more, so retries of many jobs spread out
_STARTED = (b"running", b"succeeded", b"failed")  # statuses only a started job has


class Retry(Exception):  # named for what the task asks, like arq's Retry
    """Raised by a task to ask to run again after `delay` seconds (None: its backoff),
    whatever its retry count."""

    def __init__(self, delay: float | None = None) -> None:
        self.delay = None if delay is None else seconds("Retry delay", delay, allow_zero=True)
        super().__init__(f"retry requested after {self.delay} s")


class Outcome(enum.Enum):
    """What became of one fetched payload."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRIED = "retried"
    RATE_LIMITED = "rate_limited"
    SKIPPED = "skipped"  # cancelled before it could run
    UNDECODABLE = "undecodable"
    REQUEUED = "requeued"  # at-least-once: interrupted by shutdown, back in its ready list


@dataclass(frozen=True, slots=True)
class Context:
    """What `process` needs from its worker."""

    tasks: TaskSet
    clock: Clock
    worker_id: str
    rng: random.Random


@dataclass(frozen=True, slots=True)
class Invoke:
    """A request to the driver: run `task` with the envelope's arguments."""

    task: Task[Any, Any]
    envelope: Envelope
    timeout_s: float | None


@dataclass(frozen=True, slots=True)
class Ran:
    """How a run went: its value, or the error it raised (or its timeout)."""

    value: Any = None
    error: BaseException | None = None  # not an Exception: recorded, never retried
    traceback: str = ""
    timed_out: bool = False
    duration_s: float = 0.0
    reraise: bool = False  # the error stops the worker once the outcome is written
    abandoned: bool = False  # a sync task past its timeout, still running in its thread


JobPlan = Generator[Command | Body | Invoke, Any, Outcome]


def backoff_s(base_s: float, attempt: int, rng: random.Random) -> float:
    """The delay before retrying after attempt `attempt` failed (module docstring)."""
    return min(MAX_BACKOFF_S, base_s * 2.0 ** min(attempt, 64)) * (1 + JITTER * rng.random())


def _number(envelope: Envelope, name: str, default: Any) -> Any:
    """A per-job option from the envelope, or the task's when absent or not a number."""
    value = envelope.options.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return value


@dataclass(frozen=True, slots=True)
class Fetched:
    """One popped payload, decoded and matched to its task (steps 1 and 2)."""

    queue: str
    keys: QueueKeys
    payload: bytes
    envelope: Envelope | None  # None: undecodable
    task: Task[Any, Any] | None  # None: undecodable, or no task of that name
    window: ratelimit.Window | None
    job_id: str | None  # the envelope's, or what could be read of an undecodable one
    error: MalformedPayloadError | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """Start settled: run the task, then `finish` with `release` and `noted`."""

    invoke: Invoke
    release: Body
    noted: Body  # counts of what the start found (step 3), written with the outcome


@dataclass(frozen=True, slots=True)
class Done:
    """Start settled without a run: write `body` (maybe empty); the job's outcome."""

    body: Body
    outcome: Outcome


def fetched(ctx: Context, queue: str, payload: bytes) -> Fetched:
    """Steps 1 and 2 for a payload popped from `queue`: no I/O."""
    keys = queue_keys(queue)
    try:
        envelope = decode(payload)
    except MalformedPayloadError as error:
        return Fetched(queue, keys, payload, None, None, None, recover_id(payload), error)
    task = ctx.tasks.get(envelope.task)
    limit = task.options.limit if task is not None else None
    window = ratelimit.window(queue, envelope.task, limit, ctx.clock.now_ms()) if limit else None
    return Fetched(queue, keys, payload, envelope, task, window, envelope.id)


def start_commands(ctx: Context, job: Fetched, now_ms: int) -> Body:
    """Step 3's commands, for one MULTI: the reads `settle` needs, and the job
    marked running when it has a task (a cancelled one is put back by `settle`)."""
    if job.job_id is None:
        return []
    key = job.keys.job(job.job_id)
    if job.envelope is None:
        return [(b"HGET", key, b"dedup")]
    if job.task is None:
        return [(b"HMGET", key, b"status", b"dedup")]
    running = (b"HSET", key, b"status", b"running", b"started_at", now_ms, b"worker", ctx.worker_id)
    return [
        (b"HMGET", key, b"status", b"dedup"),
        running,
        *(job.window.check() if job.window else ()),
    ]


def settle(ctx: Context, job: Fetched, replies: list[Any]) -> Run | Done:
    """Steps 1-3 decided from the replies of `start_commands`: run it, or what instead."""
    envelope, keys = job.envelope, job.keys
    if envelope is None:
        return Done(_undecodable(ctx, job, replies[0] if replies else None), Outcome.UNDECODABLE)
    status, dedup = replies[0]
    release = _release(keys, dedup, envelope)
    if status == b"cancelled":
        restore: Body = [(b"HSET", keys.job(envelope.id), b"status", b"cancelled")]
        return Done(restore if job.task is not None else [], Outcome.SKIPPED)
    if job.task is None:
        log.warning("unknown_task", job_id=envelope.id, task=envelope.task, queue=job.queue)
        reason = f"unknown task {envelope.task}"
        body = _fail(ctx, keys, envelope, "UnknownTaskError", reason, "", release, None)
        return Done(body, Outcome.FAILED)
    if job.window is not None and not job.window.allows(replies[2]):
        return Done(_defer(keys, envelope, job.payload, job.window.end_ms), Outcome.RATE_LIMITED)
    return Run(_invoke(job.task, envelope), release, _delivered_twice(job, status))


def _delivered_twice(job: Fetched, status: bytes | None) -> Body:
    """Step 3: the count of a job started again though its hash says it started."""
    if status not in _STARTED:
        return []
    log.warning("job_delivered_twice", job_id=job.job_id, queue=job.queue, status=status.decode())
    return [(b"HINCRBY", job.keys.stats, b"delivered_twice", 1)]


def eager_invoke(job: Fetched) -> Invoke | None:
    """The run of a job that may start before the replies of its start commands are
    back: a known task without a rate limit. Those replies then only add its dedup
    key, which `finish` needs, and a cancelled status, which a popped job cannot
    have (job.py rule 2: cancel and the pop race under WATCH)."""
    if job.envelope is None or job.task is None or job.window is not None:
        return None
    return _invoke(job.task, job.envelope)


def _invoke(task: Task[Any, Any], envelope: Envelope) -> Invoke:
    return Invoke(task, envelope, _number(envelope, "timeout", task.options.timeout))


def finish(
    ctx: Context, job: Fetched, ran: Ran, release: Body, noted: Body
) -> tuple[Body, Outcome]:
    """Step 5: the body that records how the run went, with Run's `release` and
    `noted`, and its outcome."""
    assert job.task is not None and job.envelope is not None  # settle ran it
    body, outcome = _finish(ctx, job.keys, job.task, job.envelope, ran, release)
    return body + noted, outcome


def fail_body(ctx: Context, job: Fetched, error_type: str, message: str, release: Body) -> Body:
    """A final failure for reasons outside the task (shutdown, a store error at start)."""
    return _fail(
        ctx, job.keys, job.envelope or job.job_id or "", error_type, message, "", release, None
    )


def job_logger() -> Any:
    """The logger of `log_finished`, resolved now as logging is configured: a worker
    that holds it spares the module logger's look-up per line (~0.8 us a job)."""
    return log.bind()


def log_finished(job: Fetched, ran: Ran, outcome: Outcome, logger: Any = log) -> None:
    """The canonical line per finished job."""
    assert job.envelope is not None
    logger.info(
        "job_finished",
        job_id=job.envelope.id,
        task=job.envelope.task,
        queue=job.queue,
        attempt=job.envelope.attempt,
        duration_s=round(ran.duration_s, 6),
        outcome=outcome.value,
    )


def process(ctx: Context, queue: str, payload: bytes) -> JobPlan:
    """The plan for one payload popped from `queue` (module docstring, steps 1-5)."""
    job = fetched(ctx, queue, payload)
    commands = start_commands(ctx, job, ctx.clock.now_ms())
    replies = (yield commands) if commands else []
    start = settle(ctx, job, replies)
    if isinstance(start, Done):
        if start.body:
            yield start.body
        return start.outcome
    ran: Ran = yield start.invoke
    body, outcome = finish(ctx, job, ran, start.release, start.noted)
    yield body
    if ran.reraise and ran.error is not None:
        raise ran.error  # KeyboardInterrupt, SystemExit, the worker's own cancellation
    log_finished(job, ran, outcome)
    return outcome


def _release(keys: QueueKeys, dedup: bytes | None, envelope: Envelope) -> Body:
    """SREM of the job's dedup key (policy "finish"), from its hash or its envelope."""
    key: Any = dedup if dedup is not None else envelope.options.get("dedup")
    return [(b"SREM", keys.dedup, key)] if isinstance(key, bytes | str) else []


def _undecodable(ctx: Context, job: Fetched, dedup: bytes | None) -> Body:
    """Step 1: count it, and record it as failed when its id can be read."""
    keys = job.keys
    log.warning("undecodable_payload", job_id=job.job_id, queue=keys.queue, error=str(job.error))
    body: Body = [(b"HINCRBY", keys.stats, b"undecodable", 1)]
    if job.job_id is not None:
        release: Body = [(b"SREM", keys.dedup, dedup)] if dedup is not None else []
        body += _fail(
            ctx, keys, job.job_id, "MalformedPayloadError", "undecodable", "", release, None
        )
    return body


def _defer(keys: QueueKeys, envelope: Envelope, payload: bytes, due_ms: int) -> Body:
    """Step 3: back to the scheduled set until the rate window ends."""
    return [
        (b"HSET", keys.job(envelope.id), b"status", b"scheduled", b"payload", payload),
        (b"ZADD", keys.scheduled, due_ms, envelope.id),
        (b"HINCRBY", keys.stats, b"rate_limited", 1),
    ]


def _finish(
    ctx: Context,
    keys: QueueKeys,
    task: Task[Any, Any],
    envelope: Envelope,
    ran: Ran,
    release: Body,
) -> tuple[Body, Outcome]:
    """Step 5: the body that records how the run went, and its outcome."""
    result_ttl = _number(envelope, "result_ttl", task.options.result_ttl)
    error = ran.error
    if error is None:
        now = ctx.clock.now_ms()
        job = keys.job(envelope.id)
        kept_s = max(task.options.finished_ttl, result_ttl or 0)  # outlives its result
        body: Body = [
            (b"HSET", job, b"status", b"succeeded", b"finished_at", now),
            (b"EXPIRE", job, max(1, math.ceil(kept_s))),
            (b"HINCRBY", keys.stats, b"succeeded", 1),
        ]
        try:
            if result_ttl is not None:
                body += result_only_body(
                    keys, envelope.id, ok=True, value=ran.value, ttl_s=result_ttl
                )
            return body + release, Outcome.SUCCEEDED
        except TypeError as unencodable:  # the return value is not msgpack data
            ran, error = _raised(unencodable, ran.duration_s), unencodable
    timed_out: Body = [(b"HINCRBY", keys.stats, b"timed_out", 1)] if ran.timed_out else []
    if isinstance(error, Exception):  # a BaseException is never retried
        delay = _retry_delay(ctx, task, envelope, error)
        if delay is not None:
            return _retry(ctx, keys, envelope, error, delay) + timed_out, Outcome.RETRIED
    failed = _fail(
        ctx, keys, envelope, type(error).__name__, str(error), ran.traceback, release, result_ttl
    )
    return failed + timed_out, Outcome.FAILED


def _retry_delay(
    ctx: Context, task: Task[Any, Any], envelope: Envelope, error: Exception
) -> float | None:
    """Seconds until the retry, or None when no attempt is left."""
    if isinstance(error, Retry) and error.delay is not None:
        return error.delay
    retries = _number(envelope, "retries", task.options.retries)
    if isinstance(error, Retry) or envelope.attempt < retries:
        return backoff_s(task.options.backoff, envelope.attempt, ctx.rng)
    return None


def _retry(
    ctx: Context, keys: QueueKeys, envelope: Envelope, error: Exception, delay_s: float
) -> Body:
    """The envelope with attempt+1 back in the scheduled set, due after `delay_s`."""
    again = dataclasses.replace(envelope, attempt=envelope.attempt + 1)
    due = ctx.clock.now_ms() + round(delay_s * 1000)
    fields = (b"status", b"scheduled", b"attempt", again.attempt, b"last_error", _text(error))
    return [
        (b"HSET", keys.job(envelope.id), *fields, b"payload", encode(again, sys.maxsize)),
        (b"ZADD", keys.scheduled, due, envelope.id),
        (b"HINCRBY", keys.stats, b"retried", 1),
    ]


def _fail(
    ctx: Context,
    keys: QueueKeys,
    envelope: Envelope | str,
    error_type: str,
    message: str,
    traceback_text: str,
    release: Body,
    result_ttl: float | None,
) -> Body:
    """A final failure: the failed registry, status failed, the counter, the result."""
    now = ctx.clock.now_ms()
    job_id = envelope if isinstance(envelope, str) else envelope.id
    body = failure_body(keys.queue, envelope, error_type, message, traceback_text, now)
    body.append((b"HINCRBY", keys.stats, b"failed", 1))
    if result_ttl is not None:
        error = f"{error_type}: {message}"
        body += result_only_body(keys, job_id, ok=False, error=error, ttl_s=result_ttl)
    return body + release


def _text(error: BaseException) -> str:
    """The error as producer.py's immediate mode writes it: "Type: message"."""
    return "".join(traceback.format_exception_only(error)).strip()


# -- running a task (the drivers' half of Invoke) ----------------------------------


def _raised(error: Exception, duration_s: float) -> Ran:
    text = "".join(traceback.format_exception(error))
    return Ran(error=error, traceback=text, duration_s=duration_s)


def _fatal(error: BaseException, start: float) -> Ran:
    """A run that raised a BaseException: a failure, then re-raised if it must stop the worker.

    KeyboardInterrupt and SystemExit always propagate; a CancelledError only
    when the worker's own asyncio task is being cancelled, not when the task
    raised it itself.
    """
    reraise = not isinstance(error, asyncio.CancelledError)
    if not reraise:
        try:
            current = asyncio.current_task()
        except RuntimeError:  # no running loop: a sync task raised it
            current = None
        reraise = current is not None and current.cancelling() > 0
    text = "".join(traceback.format_exception(error))
    return Ran(error=error, traceback=text, duration_s=time.monotonic() - start, reraise=reraise)


_NO_TIMEOUT = contextlib.nullcontext()  # reusable: it holds no state


def _timed_out(call: Invoke, duration_s: float) -> Ran:
    error = TimeoutError(
        f"task {call.task.name!r} ran {duration_s:.3f} s, over its timeout of {call.timeout_s} s"
    )
    return Ran(error=error, timed_out=True, duration_s=duration_s)


def _returned(call: Invoke, value: Any, error: Exception | None, start: float) -> Ran:
    """A sync task's run: timed out if it ended late, whatever it did (module docstring)."""
    duration = time.monotonic() - start
    if call.timeout_s is not None and duration > call.timeout_s:
        return _timed_out(call, duration)
    return _raised(error, duration) if error is not None else Ran(value, duration_s=duration)


async def _awaited(call: Invoke, start: float) -> Ran:
    """An async task, cancelled at its timeout."""
    # Without a timeout, no scope: entering one costs ~1 us a job for nothing.
    scope = asyncio.timeout(call.timeout_s) if call.timeout_s is not None else None
    try:
        async with scope or _NO_TIMEOUT:
            value = await call.task.func(*call.envelope.args, **call.envelope.kwargs)
    except TimeoutError as error:
        if scope is not None and scope.expired():
            return _timed_out(call, time.monotonic() - start)
        return _raised(error, time.monotonic() - start)
    except Exception as error:
        return _raised(error, time.monotonic() - start)
    except BaseException as error:  # recorded, then re-raised by `process` if it must
        return _fatal(error, start)
    return Ran(value, duration_s=time.monotonic() - start)


def run_sync(call: Invoke) -> Ran:
    """Run the task in this thread (an async task in its own event loop)."""
    start = time.monotonic()
    if call.task.is_async:
        return asyncio.run(_awaited(call, start))
    try:
        value = call.task.func(*call.envelope.args, **call.envelope.kwargs)
    except Exception as error:
        return _returned(call, None, error, start)
    except BaseException as error:  # recorded, then re-raised by `process` if it must
        return _fatal(error, start)
    return _returned(call, value, None, start)


async def run_in_pool(call: Invoke, executor: Executor) -> Ran:
    """A sync task in `executor`, reported timed out at its deadline.

    A thread cannot be interrupted: at the deadline the run is a TimeoutError
    failure and `abandoned`; the thread runs on, and the worker process that
    abandoned it should be replaced once its other jobs are done.
    """
    start = time.monotonic()
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(executor, _call_sync, call)
    try:
        async with asyncio.timeout(call.timeout_s):
            value, error = await asyncio.shield(future)
    except TimeoutError:
        if not future.done():
            return dataclasses.replace(_timed_out(call, time.monotonic() - start), abandoned=True)
        value, error = future.result()  # it ended right at the deadline: judged as it returned
    if error is None or isinstance(error, Exception):
        return _returned(call, value, error, start)
    return _fatal(error, start)


def _call_sync(call: Invoke) -> tuple[Any, BaseException | None]:
    """Run a sync task in a pool thread; what it returned or raised."""
    try:
        return call.task.func(*call.envelope.args, **call.envelope.kwargs), None
    except BaseException as error:  # carried back to the event loop's thread
        return None, error


async def run_async(call: Invoke) -> Ran:
    """Await an async task; run a sync one in a thread (asyncio.to_thread)."""
    start = time.monotonic()
    if call.task.is_async:
        return await _awaited(call, start)
    try:
        value = await asyncio.to_thread(call.task.func, *call.envelope.args, **call.envelope.kwargs)
    except Exception as error:
        return _returned(call, None, error, start)
    except BaseException as error:  # recorded, then re-raised by `process` if it must
        return _fatal(error, start)
    return _returned(call, value, None, start)
