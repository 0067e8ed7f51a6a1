"""Logging set-up, done once by the CLI: never at import time, never by the library.

Console lines on a terminal, JSON lines otherwise (or as the flag says), all
through structlog with ISO timestamps and the log level.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import structlog


def configure_logging(log_format: str = "auto", level: int = logging.INFO) -> None:
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(_dumps) if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        # No merge_contextvars: nothing binds context variables, and copying the
        # context costs ~6 us of a worker's ~70 us per job (one line per job).
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # print() would write the line and its newline apart; the same bytes in one write.
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


@functools.cache
def _encoder(default: Callable[[Any], Any]) -> json.JSONEncoder:
    return json.JSONEncoder(default=default)


def _dumps(obj: Any, *, default: Callable[[Any], Any]) -> str:
    """json.dumps(obj, default=default), the same text, with the encoder made once
    rather than per line (a worker writes a line per job; ~1 us of ~10 per line)."""
    return _encoder(default).encode(obj)
