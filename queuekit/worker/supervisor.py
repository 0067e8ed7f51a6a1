"""The supervisor: starts the worker processes, restarts the ones that die, stops them all.

    code = Supervisor(settings).run()     # the `queuekit worker` command's main loop

Worker processes are `multiprocessing` children of the "spawn" context: a
fresh interpreter each, which loads the task modules itself and runs
`process.run_process`. Spawn, not fork: the supervisor may host the embedded
store in a thread (`--embedded`), and forking a process with threads copies
locks held by threads that do not exist in the child; spawn also behaves the
same on Linux and macOS. multiprocessing rather than a hand-built command
line: the child's entry is a plain function (tests pass a small fake one),
the frozen settings cross as they are, and each child's sentinel lets one
wait() watch every child and the signal pipe at once.

Rules:
1. Restarts: a child that dies unexpectedly is restarted after a backoff
   (0.5 s doubling to 30 s); a run of 60 s makes it healthy again. A child
   that dies fast `crash_limit` (10) times in a row makes the supervisor stop
   every child and exit CRASH_LOOP (STORE_UNAVAILABLE if the store was why).
   Each restart is counted (`restarts`) and logged (`worker_restarted`).
2. A child exiting RECYCLE (max jobs, a sync job past its timeout) is
   replaced at once and is not a crash. In burst mode a child exiting OK is
   done; the supervisor exits OK when every child is.
3. Signals: each SIGTERM/SIGINT the supervisor gets is forwarded to every
   child (the first: drain; the second: stop at once, as run_process reads
   them). Children run in their own process group, so a terminal's Ctrl-C
   reaches them once, through the supervisor, not twice. If children still
   run `stop_grace_s` past the shutdown timeout, the supervisor sends the
   second signal itself, then SIGKILL after `kill_after_s`: shutdown ends.
4. A worker process whose supervisor vanished (SIGKILL) drains and exits on
   its own (process.py watches its parent), rather than run on unsupervised.
5. With --metrics-port, one /metrics endpoint in the supervisor covers every
   worker process (prometheus-client's multiprocess folder, set before any
   child is spawned), the store's figures and the restarts by reason.
6. Exit code: CRASH_LOOP or STORE_UNAVAILABLE if the supervisor gave up;
   else DRAIN_TIMEOUT if any child reported it (or had to be forced);
   else INTERRUPTED after SIGINT, OK after SIGTERM or a finished burst.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing import connection
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import structlog

from queuekit.client.address import parse_url
from queuekit.connect import connect
from queuekit.errors import StoreConnectionError, UsageError
from queuekit.exitcodes import ExitCode
from queuekit.metrics.supervisor import (
    SupervisorMetrics,
    multiprocess_dir,
    scrape_client,
    serve_supervisor_metrics,
)
from queuekit.worker.process import ChildTarget, child_main, run_child
from queuekit.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from queuekit.server.app import Listening
    from queuekit.server.config import ServerConfig

log = structlog.get_logger(__name__)

EMBEDDED_STOP_TIMEOUT_S = 30.0  # for the embedded store to close its listeners and clients
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How the supervisor restarts and stops children (defaults: see the module docstring)."""

    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    healthy_after_s: float = 60.0  # a child that ran this long starts its backoff afresh
    crash_limit: int = 10  # restarts without a healthy run before the supervisor gives up
    stop_grace_s: float = 10.0  # past shutdown_timeout_s before the second signal is sent
    kill_after_s: float = 10.0  # after the second signal before SIGKILL

    def backoff_s(self, fast_crashes: int) -> float | None:
        """The delay before restart number `fast_crashes` in a row (1, 2, ...); None:
        give up."""
        if fast_crashes > self.crash_limit:
            return None
        return min(self.initial_backoff_s * 2.0 ** (fast_crashes - 1), self.max_backoff_s)


@dataclass
class _Slot:
    """One worker process position, kept filled through restarts."""

    index: int
    process: BaseProcess | None = None
    started_at: float = 0.0  # monotonic
    fast_crashes: int = 0
    restart_at: float | None = None  # monotonic: waiting out a backoff
    done: bool = False  # burst: exited OK, not to be restarted


@dataclass
class _Stopping:
    """Shutdown under way: why, and when to force it."""

    reason: ExitCode
    signals_sent: int = 0
    force_at: float = math.inf  # monotonic: send the immediate-stop signal
    kill_at: float = math.inf  # monotonic: SIGKILL what is left
    forced: bool = False


class Supervisor:
    """Runs `settings.processes` worker processes until a signal, a burst's end or a crash loop."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        target: ChildTarget = run_child,
        policy: RestartPolicy | None = None,
        probe_store: bool = True,
        log_format: str | None = None,
    ) -> None:
        self.settings = settings
        self.target = target
        self.policy = policy or RestartPolicy()
        self.probe_store = probe_store  # PING the store before starting children
        self.log_format = log_format  # set: each child configures logging with it
        self.restarts = 0  # children restarted after an unexpected exit (metrics)
        self.recycles = 0  # children replaced after exiting RECYCLE
        self.metrics: SupervisorMetrics | None = None  # the endpoint, with --metrics-port
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_Slot] = []
        self._stopping: _Stopping | None = None
        self._pending_signals: list[int] = []  # appended by signal handlers (atomic)
        self._drain_timeout = False  # a child exited DRAIN_TIMEOUT
        self._wake: tuple[int, int] | None = None

    # -- entry points ---------------------------------------------------------------

    def run(self) -> ExitCode:
        """Supervise until done; the exit code says why (module docstring, rule 6)."""
        self._wake = os.pipe()
        for fd in self._wake:
            os.set_blocking(fd, False)
        try:
            with self._signal_handlers(), embedded_store(self.settings) as url:
                settings = self.settings if url is None else replace(self.settings, url=url)
                if self.probe_store and not _store_reachable(settings.url):
                    return ExitCode.STORE_UNAVAILABLE
                with self._serving_metrics(settings):
                    return self._supervise(settings)
        finally:
            wake, self._wake = self._wake, None
            for fd in wake:
                os.close(fd)

    @contextlib.contextmanager
    def _serving_metrics(self, settings: WorkerSettings) -> Iterator[None]:
        """With --metrics-port: one endpoint over every worker process and the store."""
        if settings.metrics_port is None:
            yield
            return
        with multiprocess_dir():  # before any child is spawned: they inherit the folder
            self.metrics = serve_supervisor_metrics(
                settings.metrics_host, settings.metrics_port, lambda: scrape_client(settings.url)
            )
            try:
                yield
            finally:
                self.metrics.close()
                self.metrics = None

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Act as if the supervisor got `signum` (safe from signal handlers and threads)."""
        self._pending_signals.append(signum)
        wake = self._wake
        if wake is not None:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(wake[1], b"\0")

    # -- the loop -------------------------------------------------------------------

    def _supervise(self, settings: WorkerSettings) -> ExitCode:
        self._slots = [_Slot(index) for index in range(settings.processes)]
        log.info("supervisor_started", processes=settings.processes, queues=settings.queues)
        self._handle_signals()  # one that came while the store was being set up
        if self._stopping is None:
            for slot in self._slots:
                self._start(slot, settings)
        while True:
            self._handle_signals()
            for slot in self._slots:
                if slot.process is not None and not slot.process.is_alive():
                    self._on_exit(slot)
            self._restart_due(settings)
            self._escalate()
            if self._finished():
                return self._exit_code()
            self._wait()

    def _finished(self) -> bool:
        if any(slot.process is not None for slot in self._slots):
            return False
        return self._stopping is not None or all(slot.done for slot in self._slots)

    def _wait(self) -> None:
        assert self._wake is not None
        waitables: list[int] = [self._wake[0]]
        waitables += [slot.process.sentinel for slot in self._slots if slot.process is not None]
        deadlines = [slot.restart_at for slot in self._slots if slot.restart_at is not None]
        if self._stopping is not None:
            deadlines += [self._stopping.force_at, self._stopping.kill_at]
        timeout = max(0.0, min(deadlines, default=math.inf) - time.monotonic())
        connection.wait(waitables, None if math.isinf(timeout) else timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake[0], 512):
                pass

    def _start(self, slot: _Slot, settings: WorkerSettings) -> None:
        process = self._context.Process(
            target=child_main,
            args=(self.target, settings, self.log_format),
            name=f"queuekit-worker-{slot.index}",
        )
        process.start()
        slot.process, slot.started_at, slot.restart_at = process, time.monotonic(), None
        log.info("worker_spawned", pid=process.pid, slot=slot.index)

    def _on_exit(self, slot: _Slot) -> None:
        process = slot.process
        assert process is not None
        process.join()
        code, pid = process.exitcode, process.pid
        process.close()
        slot.process = None
        if self.metrics is not None and pid is not None:
            self.metrics.worker_exited(pid)
        ran_s = time.monotonic() - slot.started_at
        if code == ExitCode.DRAIN_TIMEOUT:
            self._drain_timeout = True
        if self._stopping is not None:
            log.info("worker_exited", pid=pid, exit_code=code, slot=slot.index)
        elif code == ExitCode.RECYCLE:
            self.recycles += 1
            if self.metrics is not None:
                self.metrics.worker_restarted("recycle")
            log.info("worker_recycled", pid=pid, slot=slot.index, recycles=self.recycles)
            slot.restart_at = time.monotonic()
        elif code == ExitCode.OK and self.settings.burst:
            slot.done = True
            log.info("worker_exited", pid=pid, exit_code=code, slot=slot.index)
        else:
            self._on_crash(slot, pid, code, ran_s)

    def _on_crash(self, slot: _Slot, pid: int | None, code: int | None, ran_s: float) -> None:
        if ran_s >= self.policy.healthy_after_s:
            slot.fast_crashes = 0
        slot.fast_crashes += 1
        delay = self.policy.backoff_s(slot.fast_crashes)
        details: dict[str, object] = {"pid": pid, "exit_code": code, "slot": slot.index}
        details["ran_s"] = round(ran_s, 3)
        if code is not None and code < 0:
            details["signal"] = signal.Signals(-code).name
        if delay is None:
            reason = (
                ExitCode.STORE_UNAVAILABLE
                if code == ExitCode.STORE_UNAVAILABLE
                else ExitCode.CRASH_LOOP
            )
            log.error("worker_crash_loop", crashes=slot.fast_crashes, reason=reason.name, **details)
            self._begin_stop(reason, signal.SIGTERM)
            return
        self.restarts += 1
        if self.metrics is not None:
            self.metrics.worker_restarted("crash")
        slot.restart_at = time.monotonic() + delay
        log.warning("worker_restarted", restarts=self.restarts, backoff_s=delay, **details)

    def _restart_due(self, settings: WorkerSettings) -> None:
        if self._stopping is not None:
            return
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None and slot.restart_at <= now:
                self._start(slot, settings)

    # -- stopping -------------------------------------------------------------------

    def _handle_signals(self) -> None:
        pending = self._pending_signals
        while pending:
            signum = pending.pop(0)
            log.info("supervisor_signal", signal=signal.Signals(signum).name)
            if self._stopping is None:
                reason = ExitCode.INTERRUPTED if signum == signal.SIGINT else ExitCode.OK
                self._begin_stop(reason, signum)
            else:
                self._send_stop(signum)

    def _begin_stop(self, reason: ExitCode, signum: int) -> None:
        self._stopping = _Stopping(reason)
        for slot in self._slots:
            slot.restart_at = None
        self._send_stop(signum)

    def _send_stop(self, signum: int) -> None:
        """Forward `signum`; the first asks children to drain, the next to stop at once."""
        stopping = self._stopping
        assert stopping is not None
        stopping.signals_sent += 1
        now = time.monotonic()
        if stopping.signals_sent == 1:
            stopping.force_at = now + self.settings.shutdown_timeout_s + self.policy.stop_grace_s
        else:
            stopping.force_at = math.inf
            stopping.kill_at = min(stopping.kill_at, now + self.policy.kill_after_s)
        live = self._live()
        log.info(
            "workers_signalled", signal=signal.Signals(signum).name, pids=[p.pid for p in live]
        )
        for process in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid or 0, signum)

    def _escalate(self) -> None:
        stopping = self._stopping
        if stopping is None:
            return
        now = time.monotonic()
        if now >= stopping.force_at and self._live():
            log.warning("worker_drain_overdue", pids=[p.pid for p in self._live()])
            stopping.forced = True
            self._send_stop(signal.SIGTERM)
        if now >= stopping.kill_at and self._live():
            log.error("worker_killed", pids=[p.pid for p in self._live()])
            stopping.forced = True
            stopping.kill_at = math.inf
            for process in self._live():
                process.kill()

    def _live(self) -> list[BaseProcess]:
        return [slot.process for slot in self._slots if slot.process is not None]

    def _exit_code(self) -> ExitCode:
        stopping = self._stopping
        if stopping is not None and stopping.reason in (
            ExitCode.CRASH_LOOP,
            ExitCode.STORE_UNAVAILABLE,
        ):
            return stopping.reason
        if self._drain_timeout or (stopping is not None and stopping.forced):
            return ExitCode.DRAIN_TIMEOUT
        return ExitCode.OK if stopping is None else stopping.reason

    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        """SIGTERM/SIGINT handled by the supervisor while it runs (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.request_stop(signum)

        previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, old in previous.items():
                signal.signal(signum, old)


def _store_reachable(url: str | None) -> bool:
    """Whether the store answers PING (the client retries connecting for a while)."""
    try:
        with contextlib.closing(connect(url)) as client:
            client.execute(b"PING")
    except StoreConnectionError as error:
        log.error("store_unavailable", error=str(error))
        return False
    return True


# -- the embedded store --------------------------------------------------------------


@contextlib.contextmanager
def embedded_store(settings: WorkerSettings) -> Iterator[str | None]:
    """With `settings.embedded`, serve the store in a thread of this process while the
    block runs, and yield the URL that reaches it; else yield None.

    It listens where `settings.url` says (host, port, password; port 0 picks a
    free one), by default on 127.0.0.1:6390, so apps on this machine enqueue with
    no set-up. A thread, not a process: the store lives and dies with its
    supervisor, which is otherwise idle in wait(), and it is stopped last.
    """
    if not settings.embedded:
        yield None
        return
    # Imported here: a supervisor without --embedded starts faster without them.
    from anyio.from_thread import start_blocking_portal

    from queuekit.server.app import ConfigurationError, Server

    config = embedded_config(settings.url)
    with start_blocking_portal("asyncio") as portal:
        server = portal.call(Server, config)
        try:
            future, listening = portal.start_task(server.serve)
        except (OSError, ConfigurationError) as error:
            raise UsageError(
                f"--embedded cannot serve the store on {config.bind}:{config.port}: {error}"
            ) from None
        log.info("embedded_store_ready", host=listening.host, port=listening.port)
        try:
            yield child_url(settings.url, listening)
        finally:
            portal.call(server.stop)
            future.result(EMBEDDED_STOP_TIMEOUT_S)
            log.info("embedded_store_stopped")


def embedded_config(url: str | None) -> ServerConfig:
    """The embedded server's settings: the address and password of `url`, else the default."""
    # Imported here: the server's settings load the engine, which a supervisor
    # without --embedded never needs before it spawns its workers.
    from queuekit.server.config import DEFAULT_PORT, ServerConfig

    if url is None:
        return ServerConfig()
    try:
        address = parse_url(url)
        port = urlsplit(url).port  # parse_url reads port 0 as "none given"
        return ServerConfig(
            bind=address.host,
            port=DEFAULT_PORT if port is None else port,
            requirepass=address.password,
        )
    except ValueError as error:
        raise UsageError(f"--embedded with store URL {url!r}: {error}") from None


_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def child_url(url: str | None, listening: Listening) -> str:
    """`url` pointed at where the embedded store listens (its real port; loopback for
    a wildcard bind), keeping the password, database and options."""
    host = _WILDCARDS.get(listening.host, listening.host)
    hostport = f"[{host}]:{listening.port}" if ":" in host else f"{host}:{listening.port}"
    if url is None:
        return f"redis://{hostport}/0"
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=userinfo + at + hostport))


# -- the child side -----------------------------------------------------------------
