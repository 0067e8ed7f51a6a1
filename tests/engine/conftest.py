"""Fixtures for the engine's unit tests."""

from __future__ import annotations

import pytest

from tests.engine.support import Client


@pytest.fixture
def client() -> Client:
    """A fresh engine on a fake clock with one session; command errors are raised."""
    return Client()
