"""Producer settings: a frozen dataclass, read from the environment only when asked.

QUEUEKIT_MAX_PAYLOAD_BYTES   largest encoded job accepted by enqueue (default 1 MiB)
QUEUEKIT_IMMEDIATE_RESULT_TTL  seconds an immediate-mode result is kept (default 3600)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from queuekit.errors import InvalidOptionError
from queuekit.jobs.envelope import DEFAULT_MAX_PAYLOAD_BYTES

DEFAULT_IMMEDIATE_RESULT_TTL_S = 3600.0


@dataclass(frozen=True, slots=True)
class JobSettings:
    """What a JobClient needs beyond its store."""

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    immediate_result_ttl_s: float = DEFAULT_IMMEDIATE_RESULT_TTL_S

    def __post_init__(self) -> None:
        if isinstance(self.max_payload_bytes, bool) or not isinstance(self.max_payload_bytes, int):
            raise InvalidOptionError(f"max_payload_bytes {self.max_payload_bytes!r} is not an int")
        if self.max_payload_bytes < 64:
            raise InvalidOptionError(
                f"max_payload_bytes {self.max_payload_bytes} is below the minimum of 64 bytes"
            )
        if not self.immediate_result_ttl_s > 0:
            raise InvalidOptionError(
                f"immediate_result_ttl_s {self.immediate_result_ttl_s!r} "
                "must be more than 0 seconds"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobSettings:
        """Settings from QUEUEKIT_* variables, defaults for the rest."""
        env = os.environ if environ is None else environ
        try:
            return cls(
                max_payload_bytes=int(
                    env.get("QUEUEKIT_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)
                ),
                immediate_result_ttl_s=float(
                    env.get("QUEUEKIT_IMMEDIATE_RESULT_TTL", DEFAULT_IMMEDIATE_RESULT_TTL_S)
                ),
            )
        except ValueError as error:
            if isinstance(error, InvalidOptionError):
                raise
            raise InvalidOptionError(f"bad QUEUEKIT_* setting: {error}") from None
