"""`queuekit worker`: flags, their QUEUEKIT_* twins, the supervisor, and `--check`.

Precedence: a flag beats its environment variable, which beats the default
(WorkerSettings.from_env builds once from both). Logging is configured here
and nowhere else in the worker (the supervisor hands the format to its
children). The task modules are imported once here before any process
starts, so a typo fails at once with a usage error instead of as a crash
loop of worker processes.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

import structlog

from queuekit.connect import connect
from queuekit.errors import InvalidOptionError, StoreConnectionError, UsageError
from queuekit.exitcodes import ExitCode
from queuekit.logs import configure_logging
from queuekit.worker import health
from queuekit.worker.loader import load_tasks
from queuekit.worker.settings import (
    DEFAULT_CONCURRENCY,
    DEFAULT_HEARTBEAT_INTERVAL_S,
    DEFAULT_HEARTBEAT_TTL_S,
    DEFAULT_SHUTDOWN_TIMEOUT_S,
    LOG_FORMATS,
    MAX_CONCURRENCY,
    MAX_PROCESSES,
    WorkerSettings,
    env_variable,
    parse_setting,
)
from queuekit.worker.supervisor import Supervisor

log = structlog.get_logger(__name__)

EXIT_CODES = {
    ExitCode.OK: "stopped by SIGTERM after draining, a burst finished, or --check passed",
    ExitCode.FAILURE: "the command failed (e.g. --embedded could not listen)",
    ExitCode.USAGE: "bad arguments, or a MODULE that cannot be loaded",
    ExitCode.STORE_UNAVAILABLE: "the store could not be reached",
    ExitCode.NO_WORKER: "--check: no live worker serves one of the queues",
    ExitCode.STALLED: "--check: jobs wait, and no live worker finished one lately",
    ExitCode.DRAIN_TIMEOUT: "jobs still running at the shutdown deadline were cancelled",
    ExitCode.CRASH_LOOP: "a worker process kept dying within seconds of starting",
    ExitCode.INTERRUPTED: "stopped by Ctrl-C (SIGINT)",
}

EPILOG = (
    """\
examples:
  queuekit worker app.tasks
      run the TaskSets of ./app/tasks.py on the local server (127.0.0.1:6390), queue default
  queuekit worker app.tasks --embedded
      also serve the store on 127.0.0.1:6390 itself: one command, a whole deployment
  queuekit worker app.tasks:mail --queues high,default,low --concurrency 50 --processes 4
      4 processes, 50 jobs in flight each; high is always served before default, then low
  queuekit worker app.tasks --url redis://redis.internal:6379/0 --at-least-once
      on a Redis; every queue fetched at-least-once (a killed worker's jobs run again)
  queuekit worker app.tasks --burst
      run what is queued and due, then exit 0 (CI, cron, tests)
  QUEUEKIT_QUEUES=mail QUEUEKIT_MAX_JOBS=1000 queuekit worker app.tasks
      settings from the environment; each process is replaced after 1000 jobs
  queuekit worker --check --queues high,default --stall-after 120
      exit 0 if live workers serve these queues and finish jobs: a liveness probe

every setting has an environment twin: --shutdown-timeout is QUEUEKIT_SHUTDOWN_TIMEOUT.
SIGTERM or Ctrl-C: stop fetching and let running jobs finish (up to --shutdown-timeout);
a second signal stops them at once.

exit codes:
"""
    + "\n".join(f"  {code.value:<4}{code.name:<19}{text}" for code, text in EXIT_CODES.items())
    + "\n"
)

# flag -> (WorkerSettings field, metavar, help); each also reads QUEUEKIT_<FIELD>.
_FLAGS: dict[str, tuple[str, str, str]] = {
    "--url": ("url", "URL", "store URL (default: the local server, redis://127.0.0.1:6390/0)"),
    "--queues": (
        "queues",
        "QUEUES",
        "comma-separated queues, highest priority first (default: default)",
    ),
    "--concurrency": (
        "concurrency",
        "N",
        f"jobs in flight per process, 1-{MAX_CONCURRENCY:,} (default {DEFAULT_CONCURRENCY})",
    ),
    "--processes": ("processes", "N", f"worker processes, 1-{MAX_PROCESSES} (default 1)"),
    "--shutdown-timeout": (
        "shutdown_timeout_s",
        "SECONDS",
        f"after SIGTERM, how long running jobs may finish (default {DEFAULT_SHUTDOWN_TIMEOUT_S:g})",
    ),
    "--max-jobs": ("max_jobs", "N", "replace a process after N jobs (default: never)"),
    "--heartbeat-interval": (
        "heartbeat_interval_s",
        "SECONDS",
        f"seconds between heartbeats (default {DEFAULT_HEARTBEAT_INTERVAL_S:g})",
    ),
    "--heartbeat-ttl": (
        "heartbeat_ttl_s",
        "SECONDS",
        f"a worker silent this long is dead; its jobs are found (default "
        f"{DEFAULT_HEARTBEAT_TTL_S:g})",
    ),
    "--metrics-port": ("metrics_port", "PORT", "serve Prometheus metrics on PORT (default: off)"),
    "--metrics-host": ("metrics_host", "HOST", "address of the metrics endpoint (127.0.0.1)"),
    "--log-format": (
        "log_format",
        "FORMAT",
        f"{', '.join(LOG_FORMATS)} (default auto: JSON unless stderr is a terminal)",
    ),
}
_SWITCHES: dict[str, tuple[str, str]] = {
    "--burst": ("burst", "exit once the queues are drained and nothing is due"),
    "--embedded": (
        "embedded",
        "serve the store in the supervisor (on --url's host:port, default 127.0.0.1:6390)",
    ),
}


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add `worker` to the `queuekit` subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "worker",
        help="run the tasks of MODULEs: a supervisor and its worker processes",
        description=(
            "Run the tasks registered in MODULEs in worker processes that a supervisor\n"
            "starts, restarts and stops. A MODULE is package.module (every TaskSet at its\n"
            "top level) or package.module:name (that TaskSet, or that one task); the\n"
            "current directory is searched first, as with python -m."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("modules", nargs="*", metavar="MODULE", help="module or module:name")
    for flag, (field, metavar, help_text) in _FLAGS.items():
        parser.add_argument(flag, dest=field, metavar=metavar, help=_twin(field, help_text))
    for flag, (field, help_text) in _SWITCHES.items():
        parser.add_argument(
            flag, dest=field, action="store_true", default=None, help=_twin(field, help_text)
        )
    parser.add_argument(
        "--at-least-once",
        dest="at_least_once",
        nargs="?",
        const="*",
        metavar="QUEUES",
        help=_twin(
            "at_least_once",
            "fetch these comma-separated queues at-least-once; no value: every queue "
            "(default: at-most-once)",
        ),
    )
    check = parser.add_argument_group("health check")
    check.add_argument(
        "--check",
        action="store_true",
        help="do not run: exit 0 if live workers serve --queues and make progress (no MODULE)",
    )
    check.add_argument(
        "--stall-after",
        type=float,
        default=health.DEFAULT_STALL_AFTER_S,
        metavar="SECONDS",
        help="--check: a worker that finished no job this long while jobs wait is stalled "
        f"(default {health.DEFAULT_STALL_AFTER_S:g})",
    )
    check.add_argument(
        "--this-host",
        action="store_true",
        help="--check: count only workers on this host (a probe inside a container)",
    )
    parser.set_defaults(handler=main)
    return parser


def _twin(field: str, help_text: str) -> str:
    return f"{help_text} [{env_variable(field)}]"


def settings_from(args: argparse.Namespace) -> WorkerSettings:
    """The environment's settings, overridden by the flags that were given."""
    flags: dict[str, Any] = {"modules": tuple(args.modules)}
    for flag, (field, _, _) in _FLAGS.items():
        raw = getattr(args, field)
        if raw is not None:
            flags[field] = parse_setting(field, raw, flag)
    for field, _ in _SWITCHES.values():
        if getattr(args, field):
            flags[field] = True
    if args.at_least_once is not None:
        raw = args.at_least_once
        flags["at_least_once"] = parse_setting("at_least_once", raw, "--at-least-once")
    return WorkerSettings.from_env(**flags)


def main(args: argparse.Namespace) -> ExitCode:
    try:
        settings = settings_from(args)
        _check_usage(settings, args)
    except (InvalidOptionError, UsageError) as error:
        print(f"queuekit worker: {error}", file=sys.stderr)
        return ExitCode.USAGE
    configure_logging(settings.log_format)
    if args.check:
        return _health_check(settings, args)
    try:
        tasks = load_tasks(settings.modules)
    except UsageError as error:
        print(f"queuekit worker: {error}", file=sys.stderr)
        return ExitCode.USAGE
    log.info("worker_tasks", tasks=sorted(task.name for task in tasks))
    return Supervisor(settings, log_format=settings.log_format).run()


def _check_usage(settings: WorkerSettings, args: argparse.Namespace) -> None:
    if args.check:
        if not args.stall_after > 0:
            raise UsageError(f"--stall-after {args.stall_after:g} must be more than 0 seconds")
        if settings.modules:
            raise UsageError("--check takes no MODULE: it reads the registry of running workers")
        return
    if not settings.modules:
        raise UsageError("name at least one MODULE whose tasks to run, e.g. app.tasks")
    if settings.url is not None and settings.url.startswith("memory:"):
        raise UsageError(
            f"store URL {settings.url!r} is private to one process, so worker processes "
            "cannot share it: use --embedded, or a queuekit server or Redis URL"
        )


def _health_check(settings: WorkerSettings, args: argparse.Namespace) -> ExitCode:
    host = socket.gethostname() if args.this_host else None
    try:
        client = connect(settings.url)
        try:
            code, report = health.check(client, settings.queues, args.stall_after, host=host)
        finally:
            client.close()
    except StoreConnectionError as error:
        print(f"queuekit worker --check: {error}", file=sys.stderr)
        return ExitCode.STORE_UNAVAILABLE
    for line in report:
        print(line)
    print(f"{code.name}")
    return code
