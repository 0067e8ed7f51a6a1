"""A worker process: fetch, start, run and acknowledge jobs in batches on one asyncio loop.

    report = await WorkerProcess(settings, tasks, client).run()     # in a running loop

Three loops share the process:

- fetch: while fewer than `concurrency` jobs are in flight, fetch up to the
  free capacity (fetch.py; a worker never fetches more than it can start),
  then start the whole batch in one round trip on the queue's slot: each job's
  checks and "running" mark (execution.start_commands) and the in-flight
  record (bookkeeping.started). Each job then runs as an asyncio task:
  async tasks on this loop, cancelled at their timeout; sync tasks in a
  thread pool of `concurrency` threads, reported timed out at their timeout
  and abandoned (a thread cannot be stopped), after which the process stops
  fetching, finishes its other jobs and exits RECYCLE to be replaced.
- flush: finished jobs are written together, in one round trip: a MULTI
  per queue (its slot) holding every outcome body and the in-flight record's
  removal (and, at-least-once, the acknowledgement), then the totals, the
  registry's progress and the peaks, one untagged key per command. A
  job's capacity slot frees only once that write is done, so the store
  never counts more jobs in progress than the workers' capacity: the peak
  is exact. At-most-once, the same round trip ends with an LMPOP for the
  freed slots, so under load a batch costs two round trips: start, and
  finish-and-fetch-the-next.
- background (background.py): the heartbeat and the registry, the reaper
  of dead workers, the scheduler's moves of due jobs, periodic jobs.

Stopping: the first SIGTERM/SIGINT (Shutdown.request) stops fetching (a
waiting fetch returns within FETCH_WAIT_S; it is never cancelled, as its
reply may carry jobs), lets the jobs in flight finish for up to
`shutdown_timeout_s`, then cancels the rest; the second stops them at once.
A cancelled job is recorded failed with the reason "shutdown"
(WorkerShutdown) or, at-least-once, put back at the front of its list with
attempt+1. `--burst` stops once nothing is ready or due and nothing runs;
`max_jobs` once that many jobs were taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import structlog

from queuekit.client.results import pipeline_results
from queuekit.engine.clock import Clock, SystemClock
from queuekit.errors import QueuekitError, StoreConnectionError
from queuekit.exitcodes import ExitCode
from queuekit.jobs import keys
from queuekit.jobs.execution import (
    Context,
    Done,
    Fetched,
    Invoke,
    Outcome,
    Ran,
    Run,
    eager_invoke,
    fail_body,
    fetched,
    finish,
    job_logger,
    log_finished,
    run_async,
    run_in_pool,
    settle,
    start_commands,
)
from queuekit.jobs.keys import queue_keys
from queuekit.jobs.scheduler import next_due_ms_async
from queuekit.jobs.tasks import TaskSet
from queuekit.jobs.txn import Body
from queuekit.jobs.worker import BURST_FETCH_TIMEOUT_S, Summary
from queuekit.metrics.jobs import JobMetrics, NullMetrics
from queuekit.worker import bookkeeping, reaper
from queuekit.worker.background import Background, move_due_counted
from queuekit.worker.fetch import Batch, Fetcher, Source, sources
from queuekit.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)

FETCH_WAIT_S = 1.0  # longest a fetch waits on empty lists: bounds how late a stop is seen
DRAIN_POLL_S = 0.05  # how often a draining worker looks at its deadline and signals
STORE_RETRY_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)  # waits between tries while the store is away
# Loop passes a flush waits before it takes the finished jobs: a start's replies
# reach its jobs two passes after they arrive (a future, then the shield each job
# awaits), so jobs that end at once share the flush of their start's peaks instead
# of following it in a round trip of their own.
SETTLE_PASSES = 2

_METRIC_OUTCOMES = {  # the rest are "failure", or "timeout" when the run timed out
    Outcome.SUCCEEDED: "success",
    Outcome.SKIPPED: "cancelled",
    Outcome.REQUEUED: "cancelled",
}


class Shutdown:
    """Stop requests: the first asks for a graceful drain, the second for an immediate stop."""

    def __init__(self) -> None:
        self.graceful = asyncio.Event()
        self.immediate = asyncio.Event()
        self.graceful_since: float | None = None  # time.monotonic() of the first request

    def request(self) -> None:
        if self.graceful.is_set():
            self.immediate.set()
        else:
            self.graceful_since = time.monotonic()
        self.graceful.set()


class _StoreGone(Exception):
    """The store stayed away past the shutdown deadline: outcomes stay unwritten."""


@dataclass
class Report:
    """How a worker process's run went."""

    worker_id: str
    summary: Summary = field(default_factory=Summary)
    cancelled: int = 0  # jobs still running at the shutdown deadline, cancelled
    abandoned: int = 0  # sync jobs left running in their threads
    unrecorded: int = 0  # finished jobs whose outcome the store, away at shutdown, never got
    recycle: bool = False

    @property
    def exit_code(self) -> ExitCode:
        if self.unrecorded:
            return ExitCode.STORE_UNAVAILABLE
        if self.cancelled:
            return ExitCode.DRAIN_TIMEOUT
        return ExitCode.RECYCLE if self.recycle else ExitCode.OK


@dataclass(slots=True)
class _Finished:
    """A job whose outcome waits to be written by the flush loop."""

    job: Fetched
    source: Source
    body: Body
    outcome: Outcome
    ran: Ran | None
    started: bool  # its run started (metrics: it is in flight until now)


class WorkerProcess:
    """One worker process's jobs; see the module docstring."""

    def __init__(
        self,
        settings: WorkerSettings,
        tasks: TaskSet,
        client: Any,
        *,
        clock: Clock | None = None,
        shutdown: Shutdown | None = None,
        metrics: JobMetrics | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.clock = clock or SystemClock()
        self.shutdown = shutdown or Shutdown()
        self.metrics = metrics or NullMetrics()
        self.worker_id = worker_id or keys.new_worker_id()
        self.ctx = Context(tasks, self.clock, self.worker_id, random.Random())
        self.queues = settings.queues
        self.reliable = tuple(queue for queue in self.queues if settings.reliable(queue))
        self.fetcher = Fetcher(
            sources(self.queues, settings.reliable, self.worker_id),
            split=getattr(client, "cluster", False),
        )
        self.report = Report(self.worker_id)
        self.background = Background(self, tasks)
        self.in_flight = 0  # fetched and not yet acknowledged
        self._fetching = 0  # the count a fetch that is waiting may still bring
        self.taken = 0  # fetched in all, for max_jobs
        self._running: set[asyncio.Task[None]] = set()
        self._finished: list[_Finished] = []
        self._peaks: dict[str, int] = {}  # queue -> highest in_progress seen, not yet written
        self._total_peak = 0  # the same over all queues
        self._dirty = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._closing = False
        self._pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="queuekit-job")
        self._job_log = job_logger()
        # Why the store was given up on at shutdown (_past_stop_deadline); None: it was not.
        self._store_gone: str | None = None

    # -- the whole run ---------------------------------------------------------------

    async def run(self) -> Report:
        await self._send(self.background.registration(first=True))
        self.metrics.serving(self.queues)
        log.info("worker_started", worker=self.worker_id, queues=list(self.queues))
        try:
            async with asyncio.TaskGroup() as group:
                background = group.create_task(self.background.run())
                flusher = group.create_task(self._flush_loop())
                await self._fetch_loop()
                await self._drain()
                self._closing = True
                self._dirty.set()
                await flusher
                background.cancel()
                if self._store_gone is not None:  # jobs that ended after the flusher gave up
                    self._unrecorded(self._finished, self._store_gone)
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self.metrics.flush()
            if self._store_gone is None:
                with contextlib.suppress(QueuekitError, OSError):
                    await self._send(bookkeeping.deregister(self.worker_id))
        log.info("worker_stopped", worker=self.worker_id, **self.report.summary.as_dict())
        return self.report

    def _stopping(self) -> bool:
        if self.shutdown.graceful.is_set() or self.report.recycle:
            return True
        limit = self.settings.max_jobs
        if limit is not None and self.taken >= limit:
            self.report.recycle = True
            return True
        return False

    async def _send(self, commands: Body) -> list[Any]:
        """Plain pipelined commands (registry, totals): their replies, errors included."""
        pipe = self.client.pipeline(transaction=False)
        for argv in commands:
            pipe.execute_command(*argv)
        return list(await pipe.execute(raise_on_error=False))

    async def _write(
        self, doing: str, parts: list[Body], *, transaction: bool = True
    ) -> list[list[Any]]:
        """The parts in one round trip; each part's replies, errors included. Sent
        until the store answers: what it records exists only here.

        With `transaction`, each part of several commands runs in its own inline
        MULTI/EXEC, so each part must stay inside one slot: a queue's hash tag
        (a lone command may touch any key). A Redis Cluster transport sends each
        such transaction to its node, all in the same round trip.
        """
        failures = 0
        while True:
            pipe = self.client.pipeline(transaction=False)
            for part in parts:
                atomic = transaction and len(part) > 1
                if atomic:
                    pipe.execute_command(b"MULTI")
                for argv in part:
                    pipe.execute_command(*argv)
                if atomic:
                    pipe.execute_command(b"EXEC")
            try:
                replies = list(await pipe.execute(raise_on_error=False))
            except StoreConnectionError as error:
                if self._past_stop_deadline():
                    raise _StoreGone(str(error)) from error
                await self._store_away(doing, error, failures)
                failures += 1
                continue
            return _split_replies(parts, replies, transaction=transaction)

    def _past_stop_deadline(self) -> bool:
        """Once asked to stop, writes wait for an absent store until the shutdown
        deadline or a second signal, not for ever: a worker that was told to go,
        or whose supervisor is gone, must end (docs/semantics.md)."""
        if self.shutdown.immediate.is_set():
            return True
        since = self.shutdown.graceful_since
        return since is not None and time.monotonic() - since >= self.settings.shutdown_timeout_s

    # -- fetch and start -------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        wait_s = BURST_FETCH_TIMEOUT_S if self.settings.burst else FETCH_WAIT_S
        failures = 0
        while not self._stopping():
            free = self._free()
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            self._fetching = free
            try:
                batch = await self.fetcher.fetch(self.client, free, wait_s)
            except StoreConnectionError as error:
                await self._store_away("fetch", error, failures)
                failures += 1
                continue
            finally:
                self._fetching = 0
            failures = 0
            if batch is not None:
                await self._start(batch)
            elif self.settings.burst and await self._drained():
                return

    def _free(self) -> int:
        """How many more jobs this process may take now: its capacity, less the jobs
        in flight and those a waiting fetch may bring, within max_jobs."""
        free = self.settings.concurrency - self.in_flight - self._fetching
        if self.settings.max_jobs is not None:
            free = min(free, self.settings.max_jobs - self.taken - self._fetching)
        return free

    async def _store_away(self, doing: str, error: Exception, failures: int) -> None:
        delay = STORE_RETRY_S[min(failures, len(STORE_RETRY_S) - 1)]
        log.warning("store_unavailable", doing=doing, error=str(error), retry_in_s=delay)
        with contextlib.suppress(TimeoutError):  # a second signal ends the wait
            await asyncio.wait_for(self.shutdown.immediate.wait(), delay)

    async def _drained(self) -> bool:
        """Burst mode: whether nothing is ready, due or running; moves what is due."""
        if self.in_flight:
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BURST_FETCH_TIMEOUT_S):
                    await self._slot_freed.wait()
            return False
        now = self.clock.now_ms()
        for queue in self.queues:
            due = await next_due_ms_async(self.client, queue)
            if due is not None and due <= now:
                await move_due_counted(self.client, queue, now)
                return False
        return True

    async def _start(self, batch: Batch) -> None:
        """Start a fetched batch: its start commands in one round trip, and a task per
        job to run. Jobs that need no answer first (execution.eager_invoke) start at
        once, beside that round trip, and wait for it only to record their outcome."""
        source, now = batch.source, self.clock.now_ms()
        jobs = [fetched(self.ctx, source.queue, payload) for payload in batch.payloads]
        self.in_flight += len(jobs)
        self.taken += len(jobs)
        body: Body = []
        spans = []
        for job in jobs:
            commands = start_commands(self.ctx, job, now)
            spans.append(slice(len(body), len(body) + len(commands)))
            body += commands
        counted = [job.job_id for job in jobs if job.job_id is not None]
        qkeys = queue_keys(source.queue)
        body += bookkeeping.started(qkeys, self.worker_id, counted, now)
        # Eager jobs are scheduled before the write, so they start first; their
        # outcomes wait for its replies, so the store still sees the start first.
        answered: asyncio.Future[list[list[Any]]] = asyncio.get_running_loop().create_future()
        waiting = []
        for job, span in zip(jobs, spans, strict=True):
            invoke = eager_invoke(job)
            if invoke is None:
                waiting.append((job, span))
            else:
                self._spawn(job, source, invoke, now, self._replies_of(answered, span))
        # A plain pipeline: nothing here needs the others' atomicity (the in-flight
        # record is complete whatever runs between its commands), and a MULTI would
        # double the replies to parse.
        totals = [bookkeeping.total_in_progress(len(counted))]
        if len(waiting) < len(jobs):
            await asyncio.sleep(0)  # let them take their first step now
        try:
            written = await self._write("start", [body, totals], transaction=False)
        except BaseException as error:
            answered.set_exception(error)
            raise
        answered.set_result(written)
        replies, totals = written
        if isinstance(replies[-1], int) and replies[-1] > self._peaks.get(source.queue, 0):
            self._peaks[source.queue] = replies[-1]
        if isinstance(totals[0], int):
            self._total_peak = max(self._total_peak, totals[0])
        for job, span in waiting:
            self._begin(job, source, replies[span], now)
        self._dirty.set()

    @staticmethod
    async def _replies_of(answered: asyncio.Future[list[list[Any]]], span: slice) -> list[Any]:
        """One job's replies among a start round trip's."""
        replies, _ = await asyncio.shield(answered)
        return replies[span]

    def _begin(self, job: Fetched, source: Source, replies: list[Any], now_ms: int) -> None:
        """Settle one started job: run it, or queue what it became for the flush."""
        problem = _first_error(replies)
        if problem is not None:
            log.error("job_start_failed", job_id=job.job_id, queue=job.queue, error=str(problem))
            body = fail_body(self.ctx, job, "StoreError", f"at start: {problem}", [])
            self._finished.append(_Finished(job, source, body, Outcome.FAILED, None, False))
            return
        start = settle(self.ctx, job, replies)
        if isinstance(start, Done):
            self._finished.append(_Finished(job, source, start.body, start.outcome, None, False))
            return
        self._spawn(job, source, start.invoke, now_ms, _ready(start))

    def _spawn(
        self,
        job: Fetched,
        source: Source,
        invoke: Invoke,
        now_ms: int,
        started: Awaitable[Any],
    ) -> None:
        envelope = invoke.envelope
        self.metrics.started(job.queue, envelope.task, max(0, now_ms - envelope.enqueued_at) / 1000)
        task = asyncio.create_task(self._run(job, source, invoke, started))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    # -- run ------------------------------------------------------------------------

    async def _run(
        self, job: Fetched, source: Source, invoke: Invoke, started: Awaitable[Any]
    ) -> None:
        """Run the job, then queue its outcome. `started` gives its settled start (the
        release of its dedup key, what its start found), or, for an eager job, its
        start replies to settle first."""
        ran: Ran | None
        try:
            if invoke.task.is_async:
                ran = await run_async(invoke)  # its cancellation comes back as a Ran
            else:
                ran = await run_in_pool(invoke, self._pool)
        except asyncio.CancelledError:  # a sync job, cancelled at shutdown: its thread runs on
            self.report.abandoned += 1
            ran = None
        try:
            release, noted = self._release(job, await started)
        except asyncio.CancelledError:  # stopped at once while its start was still unanswered
            release, noted = [], []
        if ran is None or (ran.reraise and isinstance(ran.error, asyncio.CancelledError)):
            self.report.cancelled += 1
            body, outcome = self._interrupted(job, source, release)
            body = body + noted
        else:
            if ran.abandoned:
                self.report.abandoned += 1
                self.report.recycle = True
                log.warning("sync_job_abandoned", job_id=job.job_id, task=invoke.task.name)
            body, outcome = finish(self.ctx, job, ran, release, noted)
        self._finished.append(_Finished(job, source, body, outcome, ran, True))
        self._dirty.set()

    def _release(self, job: Fetched, started: Any) -> tuple[Body, Body]:
        """The release of a job's dedup key and the counts of what its start found
        (execution.Run): given, or settled from its start replies."""
        if isinstance(started, Run):
            return started.release, started.noted
        problem = _first_error(started)
        if problem is not None:
            log.error("job_start_failed", job_id=job.job_id, queue=job.queue, error=str(problem))
            return [], []
        start = settle(self.ctx, job, started)
        if isinstance(start, Run):
            return start.release, start.noted
        log.warning("job_ran_while_cancelled", job_id=job.job_id, queue=job.queue)
        return [], []

    def _interrupted(self, job: Fetched, source: Source, release: Body) -> tuple[Body, Outcome]:
        """A job cancelled at shutdown: failed (reason shutdown), or requeued at-least-once."""
        if source.reliable:
            body, _ = reaper.requeue_body(job.keys, job.payload, source.level)
            return body, Outcome.REQUEUED
        timeout = self.settings.shutdown_timeout_s
        message = f"shutdown: still running {timeout} s after the worker was asked to stop"
        return fail_body(self.ctx, job, "WorkerShutdown", message, release), Outcome.FAILED

    async def _drain(self) -> None:
        """Let running jobs finish; cancel them at the shutdown deadline or a second signal."""
        announced = False
        while self._running:
            if self.shutdown.graceful.is_set() and not announced:
                announced = True
                log.info("worker_draining", worker=self.worker_id, running=len(self._running))
            if self._past_stop_deadline():
                log.warning("jobs_cancelled_at_shutdown", count=len(self._running))
                for task in list(self._running):
                    task.cancel()
                await asyncio.wait(list(self._running))
                return
            await asyncio.wait(list(self._running), timeout=DRAIN_POLL_S)

    # -- flush ----------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await self._dirty.wait()
            for _ in range(SETTLE_PASSES):
                await asyncio.sleep(0)
            self._dirty.clear()
            finished, self._finished = self._finished, []
            if finished or self._peaks or self._total_peak:
                try:
                    await self._flush(finished)
                except _StoreGone as gone:
                    self._store_gone = str(gone)
                    self._unrecorded(finished, self._store_gone)
                    self.in_flight -= len(finished)
                    self._slot_freed.set()  # a fetch loop waiting for a slot sees the stop
                    return
            if self._closing and not self.in_flight and not self._finished:
                return

    def _unrecorded(self, finished: list[_Finished], error: str) -> None:
        """Jobs that ran but whose outcome the store never got: counted and named
        here; on the store, their in-flight record makes the reaper count them
        lost once this worker's heartbeat expires."""
        if not finished:
            return
        self.report.unrecorded += len(finished)
        log.error(
            "outcomes_not_recorded",
            worker=self.worker_id,
            count=len(finished),
            job_ids=[item.job.job_id for item in finished],
            error=error,
        )

    async def _flush(self, finished: list[_Finished]) -> None:
        """Write finished jobs and pending peaks (module docstring: flush)."""
        parts = self._finish_parts(finished)
        fetch = self._next_fetch(len(finished))
        written = await self._write("flush", parts + fetch)
        popped = written.pop()[0] if fetch else None
        for replies in [*written, [popped]]:
            for reply in replies:
                if isinstance(reply, Exception):
                    log.error("flush_error", error=str(reply))
        await self._reconcile(parts, written)
        self.in_flight -= len(finished)
        self._slot_freed.set()
        for item in finished:
            self._account(item)
        batch = self.fetcher.batch(popped)
        if batch is not None:
            await self._start(batch)

    def _finish_parts(self, finished: list[_Finished]) -> list[Body]:
        """The commands of a flush: a part per queue (its slot), then the untagged keys."""
        bodies: dict[str, Body] = {}
        ids: dict[str, list[str]] = {}
        acks: dict[str, list[bytes]] = {}
        for item in finished:
            queue = item.job.queue
            bodies.setdefault(queue, []).extend(item.body)
            if item.job.job_id is not None:
                ids.setdefault(queue, []).append(item.job.job_id)
            if item.source.reliable:
                acks.setdefault(queue, []).append(item.job.payload)
        for queue, body in bodies.items():
            queue_ids, queue_acks = ids.get(queue, []), acks.get(queue, [])
            body += bookkeeping.finished(queue_keys(queue), self.worker_id, queue_ids, queue_acks)
        peaks, self._peaks = self._peaks, {}
        for queue, value in peaks.items():  # a queue's peak rides in its part
            bodies.setdefault(queue, []).append(bookkeeping.peak(queue_keys(queue).peak, value))
        plain: Body = []
        if self._total_peak:
            plain.append(bookkeeping.peak(keys.PEAK, self._total_peak))
            self._total_peak = 0
        counted = sum(len(queue_ids) for queue_ids in ids.values())
        if counted:
            plain.append(bookkeeping.total_in_progress(-counted))
        if finished:
            in_flight, now = self.in_flight - len(finished), self.clock.now_ms()
            plain += bookkeeping.progress(self.worker_id, len(finished), in_flight, now)
        # Untagged keys live in slots of their own: each command is a part.
        return [*map(bookkeeping.coalesce_counters, bodies.values()), *([argv] for argv in plain)]

    async def _reconcile(self, parts: list[Body], written: list[list[Any]]) -> None:
        """Undo the decrements of in-flight records that were gone when the flush ran.

        A record is gone if the store restarted empty, if a Redis failover rolled
        back the start that wrote it (the job may then run twice: its pop may be
        rolled back too), or if a reaper took this worker for dead (its heartbeat
        lapsed) and settled its jobs already: the counters were then decremented
        for it once before. The HDEL's reply says how many were still there; the
        difference is given back at once, and counted (stats `records_missing`).
        """
        fixes: Body = []
        missing_total = 0
        for part, replies in zip(parts, written, strict=True):
            for argv, reply in zip(part, replies, strict=True):
                if argv[0] == b"HDEL" and isinstance(reply, int) and reply < len(argv) - 2:
                    missing = len(argv) - 2 - reply
                    stats = queue_keys(keys.queue_of(argv[1])).stats
                    fixes.append((b"HINCRBY", stats, b"in_progress", missing))
                    fixes.append((b"HINCRBY", stats, b"records_missing", missing))
                    missing_total += missing
        if fixes:
            log.warning("in_flight_records_missing", worker=self.worker_id, count=missing_total)
            fixes.append(bookkeeping.total_in_progress(missing_total))
            await self._write("reconcile", [[fix] for fix in fixes])

    def _next_fetch(self, freed: int) -> list[Body]:
        """An LMPOP for the slots this flush frees, sent after its writes in the same
        round trip: the next batch comes back with the acknowledgement. The store has
        counted the finished jobs out before it pops, so the peak stays exact."""
        if not freed or self._stopping():
            return []
        command = self.fetcher.piggyback(self._free() + freed)
        return [[command]] if command is not None else []

    def _account(self, item: _Finished) -> None:
        """The summary, the job_finished line and the metrics for a written job."""
        self.report.summary.add(item.outcome)
        job, ran, outcome = item.job, item.ran, item.outcome
        envelope = job.envelope
        if envelope is None:
            self.metrics.undecodable(job.queue)
            return
        if outcome is Outcome.RATE_LIMITED:
            self.metrics.rate_limited(job.queue, envelope.task)
            return
        ran = ran or Ran()
        log_finished(job, ran, outcome, self._job_log)
        if outcome is Outcome.REQUEUED:
            self.metrics.redelivered(job.queue, 1)
        label = _METRIC_OUTCOMES.get(outcome, "timeout" if ran.timed_out else "failure")
        task, duration = envelope.task, ran.duration_s
        self.metrics.finished(job.queue, task, label, duration, ran=item.started)
        if outcome is Outcome.RETRIED:
            self.metrics.retried(job.queue, envelope.task)


async def _ready(start: Run) -> Run:
    """A start settled already, as `_run` awaits it."""
    return start


def _split_replies(parts: list[Body], replies: list[Any], *, transaction: bool) -> list[list[Any]]:
    """Each part's replies among a `_write` pipeline's: an inline transaction's are
    its EXEC's, or its EXEC's error once per command when it did not run."""
    split: list[list[Any]] = []
    start = 0
    for part in parts:
        if transaction and len(part) > 1:
            executed = replies[start + len(part) + 1]
            if isinstance(executed, list):
                split.append(pipeline_results(executed, raise_on_error=False))
            else:
                split.append([executed] * len(part))
            start += len(part) + 2
        else:
            split.append(replies[start : start + len(part)])
            start += len(part)
    return split


def _first_error(replies: list[Any]) -> Exception | None:
    return next((reply for reply in replies if isinstance(reply, Exception)), None)
