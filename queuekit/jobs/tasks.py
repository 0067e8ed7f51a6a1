"""Tasks: functions registered by name in a TaskSet, with their options.

    tasks = TaskSet()

    @tasks.task(queue="mail", retries=3, rate_limit="100/m")
    def send_mail(to: str, subject: str) -> None: ...

    send_mail("a@example.com", "hi")                 # still a plain call
    job = send_mail.enqueue("a@example.com", "hi")   # typed: mypy checks the arguments
    send_mail.using(delay=60, priority="high").enqueue("a@example.com", "hi")

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
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from queuekit.connect import connect, connect_async
from queuekit.errors import UsageError
from queuekit.jobs.options import DEFAULT_FINISHED_TTL_S, RateLimit, TaskOptions

if TYPE_CHECKING:
    from queuekit.jobs.job import AsyncJob, Job
    from queuekit.jobs.producer import AsyncJobClient, JobClient

P = ParamSpec("P")
R = TypeVar("R")


class Task(Generic[P, R]):
    """A registered function: call it as before, or `enqueue` it."""

    __slots__ = ("func", "is_async", "name", "options", "taskset")

    def __init__(
        self, func: Callable[P, R], name: str, options: TaskOptions, taskset: TaskSet
    ) -> None:
        self.func = func
        self.name = name
        self.options = options
        self.taskset = taskset
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
            task_name = name or f"{function.__module__}.{function.__qualname__}"
            if task_name in self._tasks:
                raise UsageError(
                    f"task name {task_name!r} is already registered in this TaskSet "
                    f"(by {self._tasks[task_name].func!r}); give one of them another name="
                )
            task = Task(function, task_name, task_options, self)
            self._tasks[task_name] = task
            return task

        return register if func is None else register(func)

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
