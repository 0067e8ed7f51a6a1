"""Dedup under 8 concurrent producer processes: exactly one enqueue wins per key."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from queuekit.connect import connect
from queuekit.jobs import JobClient
from queuekit.jobs.keys import queue_keys

PROCESSES = 8
KEYS = 25


def produce(url: str, start: Any, results: Any, index: int) -> None:
    """One producer: enqueue every dedup key (set and window) and report which it won."""
    with connect(url) as store:
        client = JobClient(store)
        start.wait(60)
        won = []
        for n in range(KEYS):
            if client.enqueue("app.noop", index, _dedup_key=f"set-{n}") is not None:
                won.append(f"set-{n}")
            if client.enqueue("app.noop", index, _dedup_key=f"win-{n}", _dedup_ttl=600):
                won.append(f"win-{n}")
            if client.enqueue("app.noop", index, _job_id=f"id-{n}") is not None:
                won.append(f"id-{n}")
        results.put(won)


@pytest.mark.slow
@pytest.mark.parametrize("network_url", ["queuekit", "redis", "cluster"], indirect=True)
def test_exactly_one_producer_wins_each_dedup_key(network_url: str) -> None:
    """8 processes race on the same keys; each key is won once, the rest are counted."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=produce, args=(network_url, start, results, index))
        for index in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    start.set()
    won = [key for _ in processes for key in results.get(timeout=120)]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert sorted(won) == sorted(
        f"{kind}-{n}" for kind in ("set", "win", "id") for n in range(KEYS)
    )
    q = queue_keys("default")
    with connect(network_url) as store:
        assert store.llen(q.ready[1]) == 3 * KEYS
        losers = (PROCESSES - 1) * KEYS
        assert store.hget(q.stats, b"deduplicated") == str(2 * losers).encode()
        assert store.hget(q.stats, b"duplicate_ids") == str(losers).encode()
        assert store.hget(q.stats, b"enqueued") == str(3 * KEYS).encode()
