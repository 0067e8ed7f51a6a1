"""Per-connection state the engine keeps: transaction, watches, protocol.

A session is what Redis calls a client: the in-process client, a pipeline and
each server connection own one. The engine reads and writes it; nothing else
should.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

_ids = count(1)


class Session:
    """One client's MULTI queue, WATCHed keys and RESP version."""

    __slots__ = (
        "__weakref__",
        "client",
        "id",
        "multi",
        "multi_failed",
        "name",
        "resp",
        "watch_dirty",
        "watched",
    )

    def __init__(self, resp: int = 2) -> None:
        self.id = next(_ids)
        self.name = b""
        self.resp = resp
        # Commands queued since MULTI, or None outside a transaction.
        self.multi: list[Sequence[bytes]] | None = None
        # A queued command was refused: EXEC must answer EXECABORT.
        self.multi_failed = False
        # WATCHed key -> whether it was live-and-unexpired when watched.
        self.watched: dict[bytes, bool] = {}
        # A watched key was touched since WATCH: EXEC must abort.
        self.watch_dirty = False
        # The owner's own state (the server's connection object); opaque here.
        self.client: object = None
