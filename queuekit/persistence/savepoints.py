"""Save points: when the server snapshots on its own (Redis's `save` setting).

    points = parse_save_points("3600 1 300 100")   # (SavePoint(3600, 1), SavePoint(300, 100))
    format_save_points(points)                     # "3600 1 300 100"
    met = due(points, changes=120, since_save_s=301.0)   # SavePoint(300, 100)

Rules (Redis's serverCron and its `save` directive):
1. A save point (seconds, changes) is met when at least `changes` writes
   changed the dataset since the last good save and more than `seconds`
   have passed since it.
2. "" is no save points: snapshots are taken only when asked (SAVE,
   BGSAVE). Redis's default applies when a data directory is given and no
   `save` setting is: DEFAULT_SAVE_POINTS.
3. After a failed background save, the server waits BGSAVE_RETRY_DELAY_S
   from that attempt before a save point (or a scheduled BGSAVE) forks
   again, so a full disk is not hammered ten times a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_SAVE_POINTS = "3600 1 300 100 60 10000"  # Redis's, since 6.2
BGSAVE_RETRY_DELAY_S = 5.0  # Redis's CONFIG_BGSAVE_RETRY_DELAY


@dataclass(frozen=True, slots=True)
class SavePoint:
    """Snapshot once `changes` writes are older than `seconds` (rule 1)."""

    seconds: int
    changes: int


def parse_save_points(text: str) -> tuple[SavePoint, ...]:
    """`"SECONDS CHANGES [SECONDS CHANGES ...]"` as save points; "" as none (rule 2).

    Raises ValueError naming the bad value.
    """
    words = text.split()
    if len(words) % 2:
        raise ValueError(
            f"save {text!r} is not pairs of SECONDS CHANGES, e.g. {DEFAULT_SAVE_POINTS!r} "
            '(or "" for no automatic snapshots)'
        )
    points = []
    for seconds, changes in zip(words[0::2], words[1::2], strict=True):
        if not (seconds.isdigit() and changes.isdigit()):
            raise ValueError(
                f"save point {seconds!r} {changes!r} is not two whole numbers >= 0 "
                "(seconds, then changes)"
            )
        points.append(SavePoint(int(seconds), int(changes)))
    return tuple(points)


def format_save_points(points: Sequence[SavePoint]) -> str:
    """The text CONFIG GET save answers: "3600 1 300 100", or "" for none."""
    return " ".join(f"{point.seconds} {point.changes}" for point in points)


def due(points: Sequence[SavePoint], changes: int, since_save_s: float) -> SavePoint | None:
    """The first save point met by `changes` writes `since_save_s` after the last save."""
    for point in points:
        if changes >= point.changes and since_save_s > point.seconds:
            return point
    return None
