"""Tasks: functions registered by name in a TaskSet, with their options.

    tasks = TaskSet()

    @tasks.task(queue="mail", retries=3, rate_limit="100/m")
    def send_mail(to: str, subject: str) -> None: ...

    send_mail("a@example.com", "hi")                 # still a plain call
    job = send_mail.enqueue("a@example.com", "hi")   # typed: mypy checks the arguments
    send_mail.using(delay=60, priority="high").enqueue("a@example.com", "hi")

    @tasks.periodic(cron="0 7 * * mon-fri", queue="reports", args=("daily",))
    def send_report(kind: str) -> None: ...             # a worker enqueues it at each tick

Rules:
1. A task's name is explicit text (default: module and qualified name); a
   worker runs only tasks registered by name in the modules it imported, so a
   payload can never make it import or call anything else. Two tasks with one
   name in a TaskSet are an error.
2. Tasks may be plain or async functions; the Task object is still callable
   as the function was.
3. `enqueue` keeps the function's parameters (ParamSpec), so a wrong
   argument fails type checking at the call site. Per-enqueue options go
   through `using(...)`, also typed, or through `client.enqueue(task, ..., _delay=...)`.
4. `enqueue` goes through the TaskSet's client: the one given to
   `configure(...)`, else one connected to the TaskSet's URL on first use
   (QUEUEKIT_URL, or the local server).
5. A periodic task is a task with a `schedule` (cron.py; None for the others):
   it can still be called and enqueued by hand. Its schedule and the arguments
   of its periodic runs are checked where it is declared; workers enqueue its
   ticks (periodic.py).
"""

from __future__ import annotations

import datetime
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from queuekit.connect import connect, connect_async
from queuekit.errors import InvalidOptionError, PayloadTooLargeError, UsageError
from queuekit.jobs.cron import MISFIRE_GRACE_S, Schedule
from queuekit.jobs.envelope import Envelope, encode
from queuekit.jobs.options import DEFAULT_FINISHED_TTL_S, RateLimit, TaskOptions

if TYPE_CHECKING:
    from queuekit.jobs.job import AsyncJob, Job
    from queuekit.jobs.producer import AsyncJobClient, JobClient

P = ParamSpec("P")
R = TypeVar("R")


class Task(Generic[P, R]):
    """A registered function: call it as before, or `enqueue` it."""

    __slots__ = ("func", "is_async", "name", "options", "schedule", "taskset")

    def __init__(
        self,
        func: Callable[P, R],
        name: str,
        options: TaskOptions,
        taskset: TaskSet,
        schedule: Schedule | None = None,
    ) -> None:
        self.func = func
        self.name = name
        self.options = options
        self.taskset = taskset
        self.schedule = schedule  # None unless declared with @tasks.periodic
        self.is_async = inspect.iscoroutinefunction(func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Task({self.name!r}, queue={self.options.queue!r})"

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job | None:
        """Enqueue a run with these arguments; None if it was deduplicated."""
        return self.taskset.client.enqueue(self, *args, **kwargs)

    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> AsyncJob | None:
        """enqueue through the TaskSet's async client."""
        return await self.taskset.async_client.enqueue(self, *args, **kwargs)

    def using(self, **options: Any) -> TaskCall[P, R]:
        """This task with per-enqueue options: queue, delay, at, job_id, dedup_key,
        dedup_ttl, priority, retries, timeout, result_ttl (without underscores)."""
        return TaskCall(self, {f"_{name}": value for name, value in options.items()})


class TaskCall(Generic[P, R]):
    """A task with per-enqueue options bound; `enqueue` keeps the task's signature."""

    __slots__ = ("options", "task")

    def __init__(self, task: Task[P, R], options: dict[str, Any]) -> None:
        self.task = task
        self.options = options

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job | None:
        return self.task.taskset.client.enqueue(self.task, *args, **self.options, **kwargs)

    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> AsyncJob | None:
        client = self.task.taskset.async_client
        return await client.enqueue(self.task, *args, **self.options, **kwargs)


class TaskSet:
    """A registry of tasks by name, and the clients their `enqueue` uses."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self._tasks: dict[str, Task[Any, Any]] = {}
        self._client: JobClient | None = None
        self._async_client: AsyncJobClient | None = None

    @overload
    def task(self, func: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        /,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int | str = 1,
        retries: int = 0,
        backoff: float = 1.0,
        timeout: float | None = None,
        rate_limit: str | RateLimit | None = None,
        dedup: str | float = "finish",
        result_ttl: float | None = None,
        finished_ttl: float = DEFAULT_FINISHED_TTL_S,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int | str = 1,
        retries: int = 0,
        backoff: float = 1.0,
        timeout: float | None = None,
        rate_limit: str | RateLimit | None = None,
        dedup: str | float = "finish",
        result_ttl: float | None = None,
        finished_ttl: float = DEFAULT_FINISHED_TTL_S,
    ) -> Any:
        """Register a function as a task: `@tasks.task` or `@tasks.task(name=..., ...)`.

        The options are TaskOptions' (see options.py); they are checked now, so a
        bad one fails where the task is declared.
        """
        task_options = TaskOptions(
            queue, priority, retries, backoff, timeout, rate_limit, dedup, result_ttl, finished_ttl
        )

        def register(function: Callable[P, R]) -> Task[P, R]:
            return self._register(function, name, task_options, None)

        return register if func is None else register(func)

    def periodic(
        self,
        /,
        *,
        cron: str | None = None,
        every: datetime.timedelta | float | None = None,
        tz: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        misfire_grace: float = MISFIRE_GRACE_S,
        name: str | None = None,
        queue: str = "default",
        priority: int | str = 1,
        retries: int = 0,
        backoff: float = 1.0,
        timeout: float | None = None,
        rate_limit: str | RateLimit | None = None,
        dedup: str | float = "finish",
        result_ttl: float | None = None,
        finished_ttl: float = DEFAULT_FINISHED_TTL_S,
    ) -> Callable[[Callable[P, R]], Task[P, R]]:
        """Register a task that workers enqueue on a schedule (rule 5).

        `cron="*/5 * * * *"` (in UTC, or in the zone `tz`) or `every=timedelta(...)`
        or seconds (ticks at multiples of it since the Unix epoch), exactly one;
        `args`/`kwargs` are what each periodic run gets; `misfire_grace` is how old
        the latest tick may be and still run after a gap (periodic.py); the other
        options are @tasks.task's.
        """
        schedule = Schedule.build(
            cron=cron, every=every, tz=tz, args=args, kwargs=kwargs, misfire_grace=misfire_grace
        )
        task_options = TaskOptions(
            queue, priority, retries, backoff, timeout, rate_limit, dedup, result_ttl, finished_ttl
        )

        def register(function: Callable[P, R]) -> Task[P, R]:
            task_name = name or f"{function.__module__}.{function.__qualname__}"
            _check_periodic_call(function, task_name, schedule)
            return self._register(function, task_name, task_options, schedule)

        return register

    def _register(
        self,
        function: Callable[P, R],
        name: str | None,
        options: TaskOptions,
        schedule: Schedule | None,
    ) -> Task[P, R]:
        task_name = name or f"{function.__module__}.{function.__qualname__}"
        if task_name in self._tasks:
            raise UsageError(
                f"task name {task_name!r} is already registered in this TaskSet "
                f"(by {self._tasks[task_name].func!r}); give one of them another name="
            )
        task = Task(function, task_name, options, self, schedule)
        self._tasks[task_name] = task
        return task

    def get(self, name: str) -> Task[Any, Any] | None:
        return self._tasks.get(name)

    def include(self, *others: TaskSet) -> TaskSet:
        """Add the tasks of `others` by name (a worker's modules into one set); self."""
        for other in others:
            for task in other:
                known = self._tasks.get(task.name)
                if known is not None and known is not task:
                    raise UsageError(
                        f"task name {task.name!r} is registered twice: by {known.func!r} "
                        f"and by {task.func!r}; give one of them another name="
                    )
                self._tasks[task.name] = task
        return self

    def __getitem__(self, name: str) -> Task[Any, Any]:
        try:
            return self._tasks[name]
        except KeyError:
            raise UsageError(f"no task named {name!r} in this TaskSet") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task[Any, Any]]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def configure(
        self, client: JobClient | None = None, async_client: AsyncJobClient | None = None
    ) -> None:
        """Set the clients that `Task.enqueue` and `Task.enqueue_async` use."""
        if client is not None:
            self._client = client
        if async_client is not None:
            self._async_client = async_client

    @property
    def client(self) -> JobClient:
        """The sync client: the configured one, else one for `url` made now (rule 4)."""
        if self._client is None:
            from queuekit.jobs.producer import JobClient  # producer imports this module

            self._client = JobClient(connect(self.url), tasks=self)
        return self._client

    @property
    def async_client(self) -> AsyncJobClient:
        """The async client: the configured one, else one for `url` made now."""
        if self._async_client is None:
            from queuekit.jobs.producer import AsyncJobClient

            self._async_client = AsyncJobClient(connect_async(self.url), tasks=self)
        return self._async_client


PERIODIC_ID_PREFIX = "periodic:"  # a periodic run's job id: periodic:<task>:<tick ms>
# Job ids are at most 200 bytes (prepare.ID_MAX_BYTES); a tick takes at most 16 digits.
PERIODIC_NAME_MAX_BYTES = 200 - len(PERIODIC_ID_PREFIX) - 1 - 16


def _check_periodic_call(function: Callable[..., Any], name: str, schedule: Schedule) -> None:
    """The periodic run's arguments fit the function and encode; the name fits a job id."""
    if len(name.encode()) > PERIODIC_NAME_MAX_BYTES:
        raise InvalidOptionError(
            f"periodic task name {name[:40]!r}... is {len(name.encode())} bytes, over the limit "
            f"of {PERIODIC_NAME_MAX_BYTES} bytes (it becomes part of each run's job id); "
            "give it a shorter name="
        )
    hidden = [key for key in schedule.kwargs if not isinstance(key, str) or key[:1] == "_"]
    if hidden:
        raise InvalidOptionError(
            f"periodic kwargs {hidden[0]!r} of {name!r}: keyword names must be str and must "
            "not start with '_' (those are enqueue options)"
        )
    try:
        inspect.signature(function).bind(*schedule.args, **schedule.kwargs)
    except TypeError as error:
        raise InvalidOptionError(
            f"periodic args={schedule.args!r} kwargs={schedule.kwargs!r} do not fit "
            f"{name}{inspect.signature(function)}: {error}"
        ) from None
    except ValueError:
        pass  # no signature to check (a builtin): the worker's call will tell
    try:
        encode(Envelope("check", name, schedule.args, schedule.kwargs))
    except (TypeError, PayloadTooLargeError) as error:
        raise InvalidOptionError(
            f"periodic arguments of {name!r} cannot be sent: {error}"
        ) from None
