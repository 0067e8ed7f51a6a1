"""WorkerSettings: every field checked when built, every QUEUEKIT_* variable parsed."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from queuekit.errors import InvalidOptionError
from queuekit.worker.settings import WorkerSettings, env_variable

FULL_ENV = {
    "QUEUEKIT_URL": "redis://127.0.0.1:7000/2",
    "QUEUEKIT_QUEUES": "high, default,low",
    "QUEUEKIT_CONCURRENCY": "50",
    "QUEUEKIT_PROCESSES": "4",
    "QUEUEKIT_BURST": "yes",
    "QUEUEKIT_SHUTDOWN_TIMEOUT": "12.5",
    "QUEUEKIT_MAX_JOBS": "1000",
    "QUEUEKIT_AT_LEAST_ONCE": "high,low",
    "QUEUEKIT_HEARTBEAT_INTERVAL": "2",
    "QUEUEKIT_HEARTBEAT_TTL": "10",
    "QUEUEKIT_METRICS_PORT": "9100",
    "QUEUEKIT_METRICS_HOST": "0.0.0.0",
    "QUEUEKIT_LOG_FORMAT": "json",
    "QUEUEKIT_EMBEDDED": "true",
}


def test_defaults_are_valid_and_pickle() -> None:
    """The default settings build, and survive the pickling that spawned processes need."""
    settings = WorkerSettings(modules=("app.tasks",), at_least_once=("*",))
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert settings.reliable("default")


def test_from_env_reads_every_variable() -> None:
    """Each QUEUEKIT_* variable lands in its field, parsed to the field's type."""
    settings = WorkerSettings.from_env(FULL_ENV)
    assert settings == WorkerSettings(
        url="redis://127.0.0.1:7000/2",
        queues=("high", "default", "low"),
        concurrency=50,
        processes=4,
        burst=True,
        shutdown_timeout_s=12.5,
        max_jobs=1000,
        at_least_once=("high", "low"),
        heartbeat_interval_s=2.0,
        heartbeat_ttl_s=10.0,
        metrics_port=9100,
        metrics_host="0.0.0.0",
        log_format="json",
        embedded=True,
    )


def test_every_field_but_modules_has_a_twin() -> None:
    """The variables the environment is read from are the documented ones, one per field."""
    twins = {env_variable(name) for name in WorkerSettings.__dataclass_fields__} - {None}
    assert twins == set(FULL_ENV)


def test_from_env_with_an_empty_environment_is_the_defaults() -> None:
    """Without variables, from_env gives the defaults (and reads no real environment)."""
    assert WorkerSettings.from_env({}) == WorkerSettings()


def test_empty_optional_variables_mean_none() -> None:
    """An empty QUEUEKIT_MAX_JOBS, QUEUEKIT_METRICS_PORT or QUEUEKIT_URL means no value."""
    env = {"QUEUEKIT_MAX_JOBS": "", "QUEUEKIT_METRICS_PORT": " ", "QUEUEKIT_URL": ""}
    settings = WorkerSettings.from_env(env)
    assert (settings.max_jobs, settings.metrics_port, settings.url) == (None, None, None)


def test_overrides_beat_the_environment() -> None:
    """Keyword overrides (the CLI's flags) win over variables."""
    settings = WorkerSettings.from_env({"QUEUEKIT_CONCURRENCY": "5"}, concurrency=7)
    assert settings.concurrency == 7


def test_cross_field_checks_see_environment_and_overrides_together() -> None:
    """An interval from the environment and a TTL from a flag are checked as one whole."""
    settings = WorkerSettings.from_env({"QUEUEKIT_HEARTBEAT_INTERVAL": "20"}, heartbeat_ttl_s=60.0)
    assert (settings.heartbeat_interval_s, settings.heartbeat_ttl_s) == (20.0, 60.0)


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("QUEUEKIT_CONCURRENCY", "ten", "an integer"),
        ("QUEUEKIT_BURST", "maybe", "yes or no"),
        ("QUEUEKIT_SHUTDOWN_TIMEOUT", "soon", "seconds"),
        ("QUEUEKIT_METRICS_PORT", "http", "port"),
    ],
)
def test_unparsable_variables_name_the_variable(variable: str, raw: str, expected: str) -> None:
    """A variable that does not parse is an InvalidOptionError naming it, its value and the form."""
    with pytest.raises(InvalidOptionError) as error:
        WorkerSettings.from_env({variable: raw})
    assert variable in str(error.value)
    assert repr(raw) in str(error.value)
    assert expected in str(error.value)


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"concurrency": 0}, ["concurrency 0", "between 1 and 10,000"]),
        ({"concurrency": 10_001}, ["concurrency 10001", "10,000"]),
        ({"concurrency": True}, ["concurrency True", "int"]),
        ({"processes": 0}, ["processes 0", "between 1 and 256"]),
        ({"processes": 257}, ["processes 257", "256"]),
        ({"max_jobs": 0}, ["max_jobs 0", "at least 1"]),
        ({"metrics_port": 70000}, ["metrics_port 70000", "65,535"]),
        ({"shutdown_timeout_s": 0}, ["shutdown_timeout_s 0", "more than 0 seconds"]),
        ({"shutdown_timeout_s": float("inf")}, ["shutdown_timeout_s inf", "finite"]),
        ({"heartbeat_interval_s": -1.0}, ["heartbeat_interval_s -1.0", "more than 0"]),
        ({"heartbeat_ttl_s": "15"}, ["heartbeat_ttl_s '15'", "number of seconds"]),
        ({"heartbeat_interval_s": 15.0}, ["heartbeat_interval_s 15.0", "heartbeat_ttl_s 15.0"]),
        ({"log_format": "xml"}, ["'xml'", "auto, json, console"]),
        ({"queues": ()}, ["queues ()", "non-empty"]),
        ({"queues": ("a{b}",)}, ["'a{b}'", "hash tag"]),
        ({"queues": ("a", "a")}, ["a,a", "twice"]),
        ({"at_least_once": ("mial",)}, ["'mial'", "default", "'*'"]),
        ({"modules": ("",)}, ["modules ('',)"]),
        ({"embedded": True, "url": "memory://"}, ["'memory://'", "redis://host:port"]),
    ],
)
def test_invalid_settings_name_value_and_limit(
    changes: dict[str, Any], fragments: list[str]
) -> None:
    """Each bad field is refused when built, with the value and the limit in the message."""
    with pytest.raises(InvalidOptionError) as error:
        WorkerSettings(**changes)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_embedded_accepts_a_redis_url_or_none() -> None:
    """--embedded serves on the default address or on a redis:// URL's host and port."""
    assert WorkerSettings(embedded=True).embedded
    assert WorkerSettings(embedded=True, url="redis://127.0.0.1:7000/0").url


def test_reliable_names_queues_or_every_queue() -> None:
    """at_least_once lists queues fetched at-least-once; '*' means all of them."""
    some = WorkerSettings(queues=("a", "b"), at_least_once=("b",))
    assert [some.reliable(queue) for queue in ("a", "b")] == [False, True]
    every = WorkerSettings(queues=("a", "b"), at_least_once=("*",))
    assert every.reliable("a") and every.reliable("b")
