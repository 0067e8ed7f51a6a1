"""Differential conformance: every case must answer alike on the engine and on Redis.

Cases live in the `cases_*.py` modules beside this file, one per data type;
each runs in RESP2 and in RESP3 against a private redis-server.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tests.engine.conformance as package
from tests.engine.conformance.dsl import Case
from tests.engine.conformance.runner import run_case
from tests.support.redis_server import RedisServer


def _all_cases() -> list[Case]:
    cases: list[Case] = []
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("cases_"):
            cases.extend(importlib.import_module(f"{package.__name__}.{module.name}").CASES)
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"case names must be unique: {sorted(duplicates)}"
    return cases


CASES = _all_cases()


@pytest.mark.redis
@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_engine_answers_like_redis(case: Case, resp: int, redis_server: RedisServer) -> None:
    """Each step of the case gets the same reply from the engine as from redis-server."""
    mismatches = run_case(case, redis_server.host, redis_server.port, resp)
    assert not mismatches, "\n".join(mismatches)


def test_there_are_enough_cases() -> None:
    """The suite keeps at least 400 distinct cases (the engine issue's bar)."""
    assert len(CASES) >= 400
