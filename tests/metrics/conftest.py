"""The metrics tests use the job layer's store fixtures: memory://, queuekit server, redis."""

from __future__ import annotations

from tests.jobs.conftest import Store, jobs_server, store

__all__ = ["Store", "jobs_server", "store"]
