"""TaskSet and @tasks.task: names, options, validation, plain and async functions."""

from __future__ import annotations

import pytest

from queuekit.errors import InvalidOptionError, UsageError
from queuekit.jobs import RateLimit, TaskOptions, TaskSet
from queuekit.jobs.options import parse_rate_limit


def test_a_bare_decorator_names_the_task_by_module_and_qualname() -> None:
    """@tasks.task registers the function under module.qualname and keeps it callable."""
    tasks = TaskSet()

    @tasks.task
    def add(a: int, b: int) -> int:
        return a + b

    assert (
        add.name
        == f"{__name__}.test_a_bare_decorator_names_the_task_by_module_and_qualname.<locals>.add"
    )
    assert add(2, 3) == 5
    assert tasks[add.name] is add
    assert add.options == TaskOptions()


def test_options_are_validated_and_normalised() -> None:
    """Priority names become levels, rate limits are parsed, durations become floats."""
    tasks = TaskSet()

    @tasks.task(name="mail.send", queue="mail", priority="high", rate_limit="100/m", timeout=5)
    async def send(to: str) -> None:
        return None

    assert send.name == "mail.send"
    assert send.is_async
    assert send.options.level == 0
    assert send.options.limit == RateLimit(100, 60)
    assert send.options.timeout == 5.0
    assert send.options.queue == "mail"


def test_duplicate_task_names_are_an_error() -> None:
    """Two tasks with one name in a TaskSet raise UsageError naming it."""
    tasks = TaskSet()
    tasks.task(name="same")(lambda: None)
    with pytest.raises(UsageError, match="'same' is already registered"):
        tasks.task(name="same")(lambda: None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100/m", RateLimit(100, 60)),
        ("5/s", RateLimit(5, 1)),
        ("10/30s", RateLimit(10, 30)),
        (" 7 / h ", RateLimit(7, 3600)),
        ("1/d", RateLimit(1, 86400)),
    ],
)
def test_rate_limits_parse_into_count_and_window(text: str, expected: RateLimit) -> None:
    """COUNT/WINDOW text becomes a count and a window in seconds."""
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"rate_limit": "100 per minute"}, "is not COUNT/WINDOW"),
        ({"rate_limit": "0/m"}, "at least 1"),
        ({"rate_limit": 5}, "is not text"),
        ({"priority": 3}, "is not a level"),
        ({"priority": "urgent"}, "is not a level"),
        ({"retries": -1}, "retries -1 must be an int"),
        ({"retries": 1.5}, "retries 1.5 must be an int"),
        ({"timeout": 0}, "timeout 0 must be finite and more than 0"),
        ({"timeout": float("inf")}, "must be finite"),
        ({"backoff": "1s"}, "is not a number of seconds"),
        ({"dedup": "sometimes"}, "is not a policy"),
        ({"result_ttl": -5}, "result_ttl -5"),
        ({"queue": "a{b}"}, "hash tag"),
    ],
)
def test_bad_options_fail_at_declaration(options: dict[str, object], fragment: str) -> None:
    """A bad task option raises InvalidOptionError naming the value."""
    with pytest.raises(InvalidOptionError, match=fragment):
        TaskSet().task(**options)  # type: ignore[call-overload]


def test_a_missing_task_is_a_usage_error() -> None:
    """Looking up a name that is not registered raises UsageError naming it."""
    with pytest.raises(UsageError, match="no task named 'nope'"):
        TaskSet()["nope"]
