"""Per-task rate limits: the seed's fixed window, counted on the store for every worker.

A limit "N/W" (options.RateLimit) allows N starts of a task in each window
of W seconds. Windows are aligned to Unix time: window w covers
[w * W, (w + 1) * W) seconds, so every worker computes the same w from its
clock. Before starting a job a worker sends, inside its MULTI/EXEC,

    INCR    qk:{q}:rate:<task>:<w>
    PEXPIRE qk:{q}:rate:<task>:<w>  W s + WINDOW_MARGIN_MS

and a count above N means over the limit: the worker defers the job to the
window's end through the scheduled set (execution.py), never drops it.

Rules:
1. The counter lives in the queue's hash tag, so the check rides in the
   worker's other commands for the job (one slot on a Redis Cluster).
2. Deferred attempts count too; they are over the limit anyway, and the
   next window starts at zero.
3. The PEXPIRE only reclaims old windows: it is refreshed on every INCR and
   outlives the window by a margin, so a counter is never gone while its
   window is current, even with clocks a little apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from queuekit.jobs.keys import queue_keys
from queuekit.jobs.options import RateLimit
from queuekit.jobs.txn import Body

WINDOW_MARGIN_MS = 5_000  # rule 3: covers clock skew between workers and the store


@dataclass(frozen=True, slots=True)
class Window:
    """The window of a limit that holds a moment: its counter key and its end."""

    key: bytes
    end_ms: int  # Unix ms at which the next window starts
    limit: RateLimit

    def check(self) -> Body:
        """The commands that count one start in this window (INCR's reply is the count)."""
        ttl_ms = self.limit.window_s * 1000 + WINDOW_MARGIN_MS
        return [(b"INCR", self.key), (b"PEXPIRE", self.key, ttl_ms)]

    def allows(self, count: int) -> bool:
        """Whether the start that INCR numbered `count` is within the limit."""
        return count <= self.limit.count


def window(queue: str, task: str, limit: RateLimit, now_ms: int) -> Window:
    """The window of `limit` for `task` on `queue` that holds `now_ms`."""
    length_ms = limit.window_s * 1000
    index = now_ms // length_ms
    return Window(queue_keys(queue).rate(task, index), (index + 1) * length_ms, limit)
