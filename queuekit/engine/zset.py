"""The sorted set: members ordered by (score, member), with O(log N) everything.

Redis pairs a hash table (member -> score) with a skip list ordered by score
then member bytes; here the dict and a `SortedList` of (score, member) tuples
play those parts. Both stay in step: every change goes through `add` and
`remove`. Ranks, score ranges and lex ranges are bisections of the list.
"""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedList

from queuekit.engine.memory import zset_member_cost


class ZSet:
    """A Redis sorted set."""

    __slots__ = ("_cost", "ordered", "scores")

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self.ordered: SortedList = SortedList()
        self._cost = 0

    def __len__(self) -> int:
        return len(self.scores)

    def __bool__(self) -> bool:
        return bool(self.scores)

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        return iter(self.ordered)

    def members_cost(self) -> int:
        return self._cost

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def add(self, member: bytes, score: float) -> int:
        """Insert or move `member`; returns the change in estimated bytes."""
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return 0
            self.ordered.remove((old, member))
            self.scores[member] = score
            self.ordered.add((score, member))
            return 0
        self.scores[member] = score
        self.ordered.add((score, member))
        cost = zset_member_cost(member)
        self._cost += cost
        return cost

    def remove(self, member: bytes) -> int:
        """Remove `member` if present; returns the change in estimated bytes (<= 0)."""
        score = self.scores.pop(member, None)
        if score is None:
            return 0
        self.ordered.remove((score, member))
        cost = zset_member_cost(member)
        self._cost -= cost
        return -cost

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        return int(self.ordered.index((score, member)))

    def index_of_score(self, score: float, *, exclusive: bool) -> int:
        """First rank whose score is >= score (> score when exclusive)."""
        if exclusive:
            return int(self.ordered.bisect_right((score, _AFTER_MARK)))
        return int(self.ordered.bisect_left((score,)))

    def end_of_score(self, score: float, *, exclusive: bool) -> int:
        """One past the last rank whose score is <= score (< score when exclusive)."""
        if exclusive:
            return int(self.ordered.bisect_left((score,)))
        return int(self.ordered.bisect_right((score, _AFTER_MARK)))

    def slice(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        """Entries with ranks in [start, stop), ascending."""
        return list(self.ordered.islice(start, stop))


class _AfterEveryMember(bytes):
    """Compares greater than any member, so (score, mark) follows every (score, m).

    Members are arbitrary bytes, so no real bytes value can play this part;
    a subclass wins the comparison because Python asks it first.
    """

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True

    def __le__(self, other: object) -> bool:
        return self is other

    def __ge__(self, other: object) -> bool:
        return True


_AFTER_MARK = _AfterEveryMember()
