"""The persistence child: a forked process that writes one file from a
copy-on-write view of the dataset, shared by BGSAVE and BGREWRITEAOF.

    child = fork.start(work, name="bgsave")   # work() writes the file, in the child
    child.pid, child.name, child.started_at   # started_at: Unix seconds
    result = child.poll()   # None while it runs; then ChildResult(ok, error, duration_s)
    child.kill()            # SIGKILL and reap (shutdown, tests)

Rules (Redis's redisFork and its child, server.c):
1. At most one child per server (Redis's one child slot); the server owns
   the slot (`Server.child`), this module only forks, polls and kills.
2. The child never returns into the parent's code: whatever `work` does, it
   ends in `os._exit`, 0 after `work` returned, 1 after writing the error's
   text to a pipe. It never logs (a logging lock may have been held by
   another thread at the fork and would never be released), never touches
   the event loop, never flushes the parent's buffered stdio.
3. In the child, every signal handler the parent installed goes back to the
   default and the wakeup fd is closed: asyncio's handlers write the signal
   number into the parent's event-loop pipe, which the child shares, so a
   SIGTERM meant for the child would otherwise stop the parent.
4. On Linux the child is SIGKILLed when the parent dies (PR_SET_PDEATHSIG):
   an orphan must not rename an old snapshot over the files of the server
   restarted after a crash, nor keep the listening socket bound. (Strictly,
   when the thread that forked it ends: the server forks from its event
   loop's thread, which lives as long as the server.)
5. The child's garbage collector is off (it lives seconds and frees nothing
   worth collecting; a collection would write to every object's header and
   copy every page). The parent freezes its collector's generations for the
   child's lifetime (gc.freeze), so its own full collections neither walk
   nor dirty the pages the child still shares; the generations are thawed
   when the child is reaped.
6. `poll` reaps the child without blocking (waitpid WNOHANG); a child killed
   by a signal is a failure whose error names the signal.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ChildResult", "ForkedChild", "Work", "start"]

# What the child runs: it writes its file and raises on failure; its value is ignored.
Work = Callable[[], object]

# The error text fits in one pipe write: the child writes it before exiting and
# the parent reads only after reaping, so a longer one could block the child
# forever on a full pipe (POSIX guarantees 512 bytes atomic, Linux 4096).
MAX_ERROR_BYTES = 4000
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True, slots=True)
class ChildResult:
    """How a child ended: ok, or the error it reported (or the signal that killed it)."""

    ok: bool
    error: str  # empty when ok
    duration_s: float  # from the fork to the reaping, as the parent saw it


class ForkedChild:
    """One running (or finished) child process; see the module rules."""

    def __init__(self, pid: int, name: str, error_fd: int) -> None:
        self.pid = pid
        self.name = name
        self.started_at = time.time()
        self._started = time.monotonic()
        self._error_fd: int | None = error_fd
        self.result: ChildResult | None = None

    def poll(self) -> ChildResult | None:
        """None while the child runs; once it has ended, how (rule 6)."""
        if self.result is not None:
            return self.result
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return self._finish(False, "the child was reaped by someone else")
        if pid == 0:
            return None
        return self._reaped(status)

    def kill(self) -> ChildResult:
        """SIGKILL the child (if it still runs), reap it, and say how it ended."""
        if self.result is not None:
            return self.result
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return self._finish(False, "the child was reaped by someone else")
        return self._reaped(status)

    def _reaped(self, status: int) -> ChildResult:
        error = self._read_error()
        if os.WIFSIGNALED(status):
            name = signal.Signals(os.WTERMSIG(status)).name
            return self._finish(False, f"the child was killed by {name}")
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            return self._finish(True, "")
        return self._finish(False, error or f"the child exited with status {code}")

    def _read_error(self) -> str:
        """The error text the child wrote before exiting (its pipe's writer is gone)."""
        fd, self._error_fd = self._error_fd, None
        if fd is None:
            return ""
        chunks = []
        try:
            while chunk := os.read(fd, MAX_ERROR_BYTES):
                chunks.append(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks).decode("utf-8", "replace")

    def _finish(self, ok: bool, error: str) -> ChildResult:
        if self._error_fd is not None:
            os.close(self._error_fd)
            self._error_fd = None
        gc.unfreeze()  # rule 5: the child shares nothing with the parent any more
        self.result = ChildResult(ok, error, time.monotonic() - self._started)
        return self.result


def start(work: Work, *, name: str) -> ForkedChild:
    """Fork a child that runs `work()` and exits (rules 2-5); the parent gets its handle.

    Raises OSError if the fork fails (no memory for the page tables, process limit).
    """
    pdeathsig = _pdeathsig()
    parent = os.getpid()
    read_fd, write_fd = os.pipe()
    gc.freeze()
    try:
        with warnings.catch_warnings():
            # Python 3.12 warns about forking a process that has threads (the
            # fsync thread, the metrics endpoint): the child only runs `work`,
            # which takes none of the locks those threads may hold (rule 2).
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except BaseException:
        gc.unfreeze()
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # pragma: no cover - the child; its effects are what the tests check
        os.close(read_fd)
        _run_child(work, write_fd, parent, pdeathsig)
    os.close(write_fd)
    return ForkedChild(pid, name, read_fd)


def _run_child(
    work: Work,
    error_fd: int,
    parent: int,
    pdeathsig: Callable[[int, int], int] | None,
) -> None:  # pragma: no cover - runs in the child
    """The child's whole life: it ends in os._exit whatever happens (rule 2)."""
    code = 1
    try:
        gc.disable()
        _reset_signals()
        if pdeathsig is not None:
            pdeathsig(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before the line above could take effect
            raise RuntimeError(f"the parent process {parent} has exited")
        work()
        code = 0
    except BaseException as error:  # every failure, even SystemExit, is reported (rule 2)
        text = f"{type(error).__name__}: {error}".encode("utf-8", "replace")
        with contextlib.suppress(BaseException):
            os.write(error_fd, text[:MAX_ERROR_BYTES])
    finally:
        os._exit(code)


def _reset_signals() -> None:  # pragma: no cover - runs in the child
    """Rule 3: the parent's Python-level handlers and wakeup fd are not the child's."""
    signal.set_wakeup_fd(-1)
    for signum in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError):
            if callable(signal.getsignal(signum)):
                signal.signal(signum, signal.SIG_DFL)


_prctl: Callable[[int, int], int] | None = None


def _pdeathsig() -> Callable[[int, int], int] | None:
    """libc's prctl on Linux, looked up in the parent (rule 4).

    Looked up before the fork, never in the child: dlopen takes a lock that
    another thread may hold at the fork.
    """
    global _prctl
    if _prctl is None and sys.platform.startswith("linux"):
        import ctypes  # here: every CLI start would pay for it, few fork

        with contextlib.suppress(OSError, AttributeError):
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
    return _prctl
