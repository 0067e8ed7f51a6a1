"""Worker tests use the job layer's store fixtures: memory://, a queuekit server, redis."""

from __future__ import annotations

from tests.jobs.conftest import Store, jobs_server, network_url, store

__all__ = ["Store", "jobs_server", "network_url", "store"]
