"""Reading the worker registry: who is alive, what each did, and `worker --check`.

    workers = read_workers(client, stall_after_s=60)      # list[WorkerInfo], for `queuekit info`
    code, report = check(client, ["default"], stall_after_s=60)   # `queuekit worker --check`

A worker is alive while its heartbeat key exists (keys.worker_alive). It is
stalled when it is alive, one of its queues has jobs ready, and it finished
no job for `stall_after_s` (counted from its start if it never finished
one): alive but no longer consuming, the failure the issue asks to see.

`check` passes (OK) when every given queue has a live worker, and each queue
with jobs ready has at least one live worker serving it that is not stalled;
otherwise NO_WORKER (some queue has no live worker at all) or STALLED. The
report has one line per worker and one per queue, each saying why.

Rules: reads only (SMEMBERS, HGETALL, EXISTS, LLEN), in two pipelined
round trips; registry entries a worker half wrote or that name a bad queue
are reported, never a crash; timestamps in the registry are Unix ms, here
Unix seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queuekit.errors import InvalidOptionError
from queuekit.exitcodes import ExitCode
from queuekit.jobs import keys
from queuekit.jobs.txn import pipelined

DEFAULT_STALL_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One registered worker process, as the registry shows it."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    started_at: float  # Unix seconds
    jobs_done: int
    in_flight: int
    last_progress: float | None  # Unix seconds of the last finished job; None: none yet
    alive: bool  # its heartbeat key exists
    stalled: bool  # alive, jobs ready on its queues, no job finished within stall_after_s
    reliable_queues: tuple[str, ...] = ()  # fetched at-least-once

    def idle_s(self, now: float) -> float:
        """Seconds since it last finished a job (or started, if it finished none)."""
        return max(0.0, now - (self.last_progress or self.started_at))


def read_workers(
    client: Any, *, stall_after_s: float = DEFAULT_STALL_AFTER_S, now: float | None = None
) -> list[WorkerInfo]:
    """Every registered worker, sorted by id (`now`: Unix seconds, default the clock's)."""
    now = time.time() if now is None else now
    ids = sorted(_text(member) for member in client.execute(b"SMEMBERS", keys.WORKERS))
    reads: list[tuple[Any, ...]] = []
    for worker_id in ids:
        reads.append((b"HGETALL", keys.worker_info(worker_id)))
        reads.append((b"EXISTS", keys.worker_alive(worker_id)))
    replies = pipelined(client, reads)
    raw = [
        (worker_id, _fields(replies[2 * n]), bool(replies[2 * n + 1]))
        for n, worker_id in enumerate(ids)
    ]
    queues = {queue for _, info, _ in raw for queue in _names(info.get("queues", ""))}
    ready = ready_counts(client, queues)
    return [
        _worker(worker_id, info, alive, ready, stall_after_s, now) for worker_id, info, alive in raw
    ]


def ready_counts(client: Any, queues: Iterable[str]) -> dict[str, int]:
    """Jobs waiting on each queue's ready lists (every priority level); bad names skipped."""
    valid = []
    for queue in sorted(set(queues)):
        try:
            valid.append(keys.queue_keys(queue))
        except InvalidOptionError:
            continue
    reads = [(b"LLEN", ready) for qkeys in valid for ready in qkeys.ready]
    replies = iter(pipelined(client, reads))
    return {qkeys.queue: sum(int(next(replies)) for _ in qkeys.ready) for qkeys in valid}


def check(
    client: Any,
    queues: Sequence[str],
    stall_after_s: float = DEFAULT_STALL_AFTER_S,
    *,
    host: str | None = None,
    now: float | None = None,
) -> tuple[ExitCode, list[str]]:
    """Whether live workers serve `queues` and make progress (module docstring), with a
    report of one line per worker and per queue. `host`: count only that host's workers."""
    now = time.time() if now is None else now
    workers = [
        worker
        for worker in read_workers(client, stall_after_s=stall_after_s, now=now)
        if host is None or worker.host == host
    ]
    ready = ready_counts(client, queues)
    report = [describe(worker, now) for worker in workers]
    codes = []
    for queue in queues:
        code, line = _queue_health(queue, workers, ready.get(queue, 0), stall_after_s)
        codes.append(code)
        report.append(line)
    for failing in (ExitCode.NO_WORKER, ExitCode.STALLED):
        if failing in codes:
            return failing, report
    return ExitCode.OK, report


def _queue_health(
    queue: str, workers: Sequence[WorkerInfo], ready: int, stall_after_s: float
) -> tuple[ExitCode, str]:
    serving = [worker for worker in workers if worker.alive and queue in worker.queues]
    if not serving:
        return ExitCode.NO_WORKER, f"queue {queue}: NO_WORKER: no live worker serves it"
    progressing = [worker for worker in serving if not worker.stalled]
    if ready and not progressing:
        return ExitCode.STALLED, (
            f"queue {queue}: STALLED: {ready} jobs ready and none of its {len(serving)} live "
            f"workers finished a job in the last {stall_after_s:g} s"
        )
    return ExitCode.OK, (
        f"queue {queue}: OK: {len(serving)} live workers, {len(progressing)} making progress, "
        f"{ready} jobs ready"
    )


def describe(worker: WorkerInfo, now: float) -> str:
    """One line on a worker: its state, then its figures."""
    if not worker.alive:
        state = "DEAD (heartbeat expired)"
    elif worker.stalled:
        state = "STALLED (jobs ready, none finished lately)"
    else:
        state = "alive"
    last = (
        "none finished yet"
        if worker.last_progress is None
        else f"last finished {max(0.0, now - worker.last_progress):.1f} s ago"
    )
    return (
        f"worker {worker.id}: {state}; pid {worker.pid} on {worker.host}, queues "
        f"{','.join(worker.queues) or '-'}, {worker.jobs_done} jobs done, "
        f"{worker.in_flight} in flight, {last}"
    )


def _worker(
    worker_id: str,
    info: Mapping[str, str],
    alive: bool,
    ready: Mapping[str, int],
    stall_after_s: float,
    now: float,
) -> WorkerInfo:
    queues = _names(info.get("queues", ""))
    started_at = _number(info.get("started_at")) / 1000
    last_ms = _number(info.get("last_progress"))
    last_progress = last_ms / 1000 if last_ms else None
    waiting = any(ready.get(queue, 0) for queue in queues)
    idle_s = now - (last_progress or started_at)
    return WorkerInfo(
        id=worker_id,
        host=info.get("host", ""),
        pid=_number(info.get("pid")),
        queues=queues,
        started_at=started_at,
        jobs_done=_number(info.get("jobs_done")),
        in_flight=_number(info.get("in_flight")),
        last_progress=last_progress,
        alive=alive,
        stalled=alive and waiting and idle_s > stall_after_s,
        reliable_queues=_names(info.get("reliable_queues", "")),
    )


def _fields(reply: Any) -> dict[str, str]:
    """HGETALL's reply as text: a map in RESP3 and in-process, a flat list in RESP2."""
    if isinstance(reply, dict):
        pairs = list(reply.items())
    else:
        pairs = list(zip(reply[::2], reply[1::2], strict=True))
    return {_text(name): _text(value) for name, value in pairs}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _names(joined: str) -> tuple[str, ...]:
    return tuple(name for name in joined.split(",") if name)


def _number(text: str | None) -> int:
    """A registry figure; 0 for a missing or garbled one (a half-written entry)."""
    try:
        return int(text) if text else 0
    except ValueError:
        return 0
