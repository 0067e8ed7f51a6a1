"""SCAN, SSCAN, HSCAN and ZSCAN: cursors that survive changes to what they walk.

Redis's cursor walks hash buckets in reverse-binary order, which a Python
dict does not expose. Here `SCAN 0` takes a snapshot of the collection's
keys (one C-speed list copy) and the cursor names that snapshot and a
position in it; later calls resume from the snapshot, skipping what has since
been deleted. That keeps SCAN's contract: an element present for the whole
iteration is returned, one removed may not be, one added may or may not be.

Snapshots are kept for the most recent `MAX_SNAPSHOTS` iterations. A cursor
whose snapshot was dropped starts a new one: the caller may see elements
twice (SCAN allows that) but never misses one.

Like Redis's compact encodings, a collection of at most
`WHOLE_REPLY_MAX_ELEMENTS` is returned whole in one reply with cursor 0.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from queuekit.engine import errors
from queuekit.engine.args import parse_int
from queuekit.engine.errors import CommandError
from queuekit.engine.glob import glob_match

MAX_SNAPSHOTS = 64
WHOLE_REPLY_MAX_ELEMENTS = 128  # Redis's *-max-listpack-entries default
_POSITION_BITS = 32


@dataclass(frozen=True, slots=True)
class ScanOptions:
    pattern: bytes | None
    count: int
    type_name: bytes | None


def parse_cursor(raw: bytes) -> int:
    """An unsigned 64-bit decimal read as strtoul reads it (parseScanCursorOrReply).

    So "" is cursor 0, a sign is allowed and "-N" wraps to 2**64 - N; leading
    zeros are fine; spaces, "0x" and trailing junk are not.
    """
    if not raw:
        return 0
    digits = raw[1:] if raw[:1] in (b"+", b"-") else raw
    significant = digits.lstrip(b"0")
    if not digits.isdigit() or len(significant) > 20 or int(significant or b"0") >= 2**64:
        raise CommandError(errors.INVALID_CURSOR)
    value = int(significant or b"0")
    return -value % 2**64 if raw[:1] == b"-" else value


def parse_options(argv: Sequence[bytes], start: int, *, allow_type: bool) -> ScanOptions:
    """MATCH pattern, COUNT count and (SCAN only) TYPE type, in any order."""
    pattern: bytes | None = None
    count = 10
    type_name: bytes | None = None
    index = start
    while index < len(argv):
        option = argv[index].upper()
        if index + 1 >= len(argv):
            raise CommandError(errors.SYNTAX)
        value = argv[index + 1]
        if option == b"COUNT":
            count = parse_int(value)
            if count < 1:
                raise CommandError(errors.SYNTAX)
        elif option == b"MATCH":
            pattern = None if value == b"*" else value
        elif option == b"TYPE" and allow_type:
            type_name = value.lower()
        else:
            raise CommandError(errors.SYNTAX)
        index += 2
    return ScanOptions(pattern, count, type_name)


class Cursors:
    """The snapshots behind live cursors, most recent last."""

    def __init__(self) -> None:
        self._snapshots: OrderedDict[int, list[Any]] = OrderedDict()
        self._next_id = 1

    def step(
        self, cursor: int, elements: Callable[[], Iterable[Any]], count: int
    ) -> tuple[int, list[Any]]:
        """Up to about `count` elements from where `cursor` left off, and the next cursor."""
        snapshot_id, position = cursor >> _POSITION_BITS, cursor & ((1 << _POSITION_BITS) - 1)
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None:
            snapshot_id, position = self._next_id, 0
            self._next_id += 1
            snapshot = list(elements())
            self._snapshots[snapshot_id] = snapshot
            if len(self._snapshots) > MAX_SNAPSHOTS:
                self._snapshots.popitem(last=False)
        else:
            self._snapshots.move_to_end(snapshot_id)
        batch = snapshot[position : position + count]
        position += count
        if position >= len(snapshot):
            self._snapshots.pop(snapshot_id, None)
            return 0, batch
        return (snapshot_id << _POSITION_BITS) | position, batch


def filter_pattern(items: Iterable[bytes], pattern: bytes | None) -> list[bytes]:
    if pattern is None:
        return list(items)
    return [item for item in items if glob_match(pattern, item)]
