"""The protocol's size limits, each a setting with Redis's default.

Every buffer a peer can grow is bounded by one of these; a frame that
breaks one is a protocol error with Redis's own wording.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    # Redis's proto-max-bulk-len: the largest single argument, in bytes.
    max_bulk_length: int = 512 * MiB
    # Redis refuses a multibulk count above INT_MAX; so does this by default.
    max_multibulk_length: int = 2**31 - 1
    # Redis's PROTO_INLINE_MAX_SIZE: an inline command, or the header line of
    # a multibulk or bulk, must fit in this many bytes.
    max_inline_length: int = 64 * 1024
