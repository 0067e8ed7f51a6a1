"""Enqueue: JobClient (sync), AsyncJobClient (asyncio) and queuekit.enqueue().

    client = JobClient(connect("redis://localhost:6390/0"))
    job = client.enqueue("mail.send", "a@example.com", _delay=60, _priority="high")
    jobs = client.enqueue_many([call("mail.send", to) for to in addresses])

Rules:
1. Everything is checked and encoded before anything is sent (`prepare`): a
   bad option, a bad queue name, an argument msgpack cannot encode or an
   oversize payload raises, and nothing is enqueued.
2. A plain enqueue is one MULTI/EXEC in one round trip: HSET the job hash,
   LPUSH the payload on its priority level's list (or, when delayed, ZADD
   the id to the scheduled set and keep the payload in the job hash), HINCRBY
   the queue's `enqueued` counter. Only queue-tagged keys are touched, so it
   runs on a Redis Cluster.
3. An enqueue with `_dedup_key` or `_job_id` is a txn plan: WATCH the dedup
   set (or the dedup window key) and the job hash, check, then MULTI/EXEC,
   retried when a watched key changes. Of many concurrent producers exactly
   one wins per key; the others get None, counted as `deduplicated` (or
   `duplicate_ids`) in the queue's stats hash.
4. `qk:queues` (outside every tag) gets the queue's name once per client
   per queue, as a separate command.
5. `enqueue_many` sends all plain calls in one pipeline, one MULTI/EXEC per
   queue (atomic per queue) holding an HSET per job and one LPUSH per level,
   one ZADD and one HINCRBY for all of them (`batch_body`). Calls with a
   dedup key or a job id follow, one plan each: a check cannot ride in a
   pipeline.
6. Immediate mode (`immediate=True`, for app tests): the task runs inline at
   enqueue, its result (or error) is stored as a worker would store it, and
   the job is never queued. Tasks are found by name in `tasks`.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from queuekit.connect import connect, default_url
from queuekit.engine.clock import Clock, SystemClock
from queuekit.errors import UsageError
from queuekit.jobs.job import AsyncJob, Job, result_body
from queuekit.jobs.keys import QUEUES
from queuekit.jobs.prepare import Call, Prepared, batch_body, call, prepare
from queuekit.jobs.settings import JobSettings
from queuekit.jobs.tasks import Task, TaskSet
from queuekit.jobs.txn import check_replies, run_body, run_body_async, run_plan, run_plan_async


@dataclass(eq=False)
class _Base:
    """What both clients share: settings, clock, registry and the queues announced."""

    store: Any
    tasks: TaskSet | None = None
    immediate: bool = False
    settings: JobSettings = field(default_factory=JobSettings.from_env)
    clock: Clock = field(default_factory=SystemClock)
    _announced: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.immediate and self.tasks is None:
            raise UsageError("immediate mode runs tasks by name: pass tasks=<your TaskSet>")

    def _prepare(self, task: Task[Any, Any] | str, args: Any, kwargs: dict[str, Any]) -> Prepared:
        return prepare(call(task, *args, **kwargs), self.settings, self.clock, self.tasks)

    def _announce(self, queues: Iterable[str]) -> list[str]:
        """The queues this client has not announced yet (rule 4); mark them with
        `_announced` once their SADD has succeeded."""
        return list(dict.fromkeys(queue for queue in queues if queue not in self._announced))

    def _announced_now(self, queues: list[str]) -> None:
        self._announced.update(queues)

    def _task_for(self, prepared: Prepared) -> Task[Any, Any]:
        """Rule 6: the registered task an immediate-mode job runs."""
        assert self.tasks is not None
        return self.tasks[prepared.envelope.task]

    def _outcome_body(self, prepared: Prepared, ok: bool, value: Any) -> list[Any]:
        ttl = prepared.result_ttl or self.settings.immediate_result_ttl_s
        envelope = prepared.envelope
        if ok:
            return result_body(envelope.queue, envelope.id, ok=True, value=value, ttl_s=ttl)
        error = "".join(traceback.format_exception_only(value)).strip()
        return result_body(envelope.queue, envelope.id, ok=False, error=error, ttl_s=ttl)


class JobClient(_Base):
    """Enqueue jobs through a synchronous store client (memory://, redis://, unix://)."""

    def enqueue(self, task: Task[Any, Any] | str, /, *args: Any, **kwargs: Any) -> Job | None:
        """Enqueue `task(*args, **kwargs)`; options are `_`-prefixed keywords (see `call`).

        Returns the Job, or None if it was deduplicated or its `_job_id` exists.
        """
        return self._submit(self._prepare(task, args, kwargs))

    def enqueue_many(self, calls: Iterable[Call]) -> list[Job | None]:
        """Enqueue a batch in one round trip (rule 5); results in the order of `calls`."""
        batch = [prepare(c, self.settings, self.clock, self.tasks) for c in calls]
        if self.immediate:
            return [self._submit(prepared) for prepared in batch]
        plain = [p for p in batch if p.plan is None]
        pipe = self.store.pipeline(transaction=False)
        new = self._announce(p.envelope.queue for p in batch)
        if new:
            pipe.execute_command(b"SADD", QUEUES, *new)
        for group in _by_queue(plain):
            pipe.execute_command(b"MULTI")
            for argv in batch_body(group):
                pipe.execute_command(*argv)
            pipe.execute_command(b"EXEC")
        for reply in pipe.execute():
            if isinstance(reply, list):
                check_replies(reply)
        self._announced_now(new)
        return [self._job(p) if p.plan is None else self._submit(p) for p in batch]

    def job(self, job_id: str, queue: str = "default") -> Job:
        """A handle on any job by id (its status may be UNKNOWN)."""
        return Job(self.store, job_id, queue)

    def _job(self, prepared: Prepared) -> Job:
        return Job(self.store, prepared.envelope.id, prepared.envelope.queue)

    def _submit(self, prepared: Prepared) -> Job | None:
        if self.immediate:
            return self._immediate(prepared)
        new = self._announce((prepared.envelope.queue,))
        if new:
            self.store.execute(b"SADD", QUEUES, *new)
            self._announced_now(new)
        if prepared.plan is None:
            run_body(self.store, prepared.body)
        elif run_plan(self.store, prepared.plan) is None:
            self.store.execute(*prepared.refused)
            return None
        return self._job(prepared)

    def _immediate(self, prepared: Prepared) -> Job:
        task = self._task_for(prepared)
        envelope = prepared.envelope
        try:
            value = task.func(*envelope.args, **envelope.kwargs)
            if task.is_async:
                value = asyncio.run(value)
            body = self._outcome_body(prepared, True, value)
        except Exception as error:
            body = self._outcome_body(prepared, False, error)
        run_body(self.store, body)
        return self._job(prepared)


class AsyncJobClient(_Base):
    """Enqueue jobs through an async store client; the twin of JobClient."""

    async def enqueue(
        self, task: Task[Any, Any] | str, /, *args: Any, **kwargs: Any
    ) -> AsyncJob | None:
        """Enqueue `task(*args, **kwargs)` (see JobClient.enqueue)."""
        return await self._submit(self._prepare(task, args, kwargs))

    async def enqueue_many(self, calls: Iterable[Call]) -> list[AsyncJob | None]:
        """Enqueue a batch in one round trip (see JobClient.enqueue_many)."""
        batch = [prepare(c, self.settings, self.clock, self.tasks) for c in calls]
        if self.immediate:
            return [await self._submit(prepared) for prepared in batch]
        pipe = self.store.pipeline(transaction=False)
        new = self._announce(p.envelope.queue for p in batch)
        if new:
            pipe.execute_command(b"SADD", QUEUES, *new)
        for group in _by_queue([p for p in batch if p.plan is None]):
            pipe.execute_command(b"MULTI")
            for argv in batch_body(group):
                pipe.execute_command(*argv)
            pipe.execute_command(b"EXEC")
        for reply in await pipe.execute():
            if isinstance(reply, list):
                check_replies(reply)
        self._announced_now(new)
        return [self._job(p) if p.plan is None else await self._submit(p) for p in batch]

    def job(self, job_id: str, queue: str = "default") -> AsyncJob:
        """A handle on any job by id (its status may be UNKNOWN)."""
        return AsyncJob(self.store, job_id, queue)

    def _job(self, prepared: Prepared) -> AsyncJob:
        return AsyncJob(self.store, prepared.envelope.id, prepared.envelope.queue)

    async def _submit(self, prepared: Prepared) -> AsyncJob | None:
        if self.immediate:
            return await self._immediate(prepared)
        new = self._announce((prepared.envelope.queue,))
        if new:
            await self.store.execute(b"SADD", QUEUES, *new)
            self._announced_now(new)
        if prepared.plan is None:
            await run_body_async(self.store, prepared.body)
        elif await run_plan_async(self.store, prepared.plan) is None:
            await self.store.execute(*prepared.refused)
            return None
        return self._job(prepared)

    async def _immediate(self, prepared: Prepared) -> AsyncJob:
        task = self._task_for(prepared)
        envelope = prepared.envelope
        try:
            value = task.func(*envelope.args, **envelope.kwargs)
            if task.is_async:
                value = await value
            body = self._outcome_body(prepared, True, value)
        except Exception as error:
            body = self._outcome_body(prepared, False, error)
        await run_body_async(self.store, body)
        return self._job(prepared)


def _by_queue(batch: list[Prepared]) -> list[list[Prepared]]:
    groups: dict[str, list[Prepared]] = {}
    for prepared in batch:
        groups.setdefault(prepared.envelope.queue, []).append(prepared)
    return list(groups.values())


# -- queuekit.enqueue ---------------------------------------------------------------

_default_clients: dict[str, JobClient] = {}


def enqueue(task: Task[Any, Any] | str, /, *args: Any, **kwargs: Any) -> Job | None:
    """Enqueue by task name through the store at QUEUEKIT_URL (or the local server).

    For apps that do not import worker code: `queuekit.enqueue("mail.send", to)`.
    """
    url = default_url()
    client = _default_clients.get(url)
    if client is None:
        client = _default_clients.setdefault(url, JobClient(connect(url)))
    return client.enqueue(task, *args, **kwargs)
