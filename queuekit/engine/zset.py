"""The sorted set: members ordered by (score, member), with O(log N) everything.

Redis pairs a hash table (member -> score) with a skip list ordered by score
then member bytes; here the dict `scores` and a `SortedList` `ordered` of
(score, member) tuples play those parts. Rules:

1. Both views hold the same members at all times: only `add`, `remove`,
   `pop` and `remove_ranks` change them, and each returns the change in
   estimated bytes, which the caller adds to `db.used_memory`.
2. Ranks, score ranges and lex ranges are bisections of `ordered`; a range
   is a span of ranks [start, stop), read with `entries` (an islice), so no
   query walks more of the set than it returns.
3. `compact` mirrors Redis's listpack encoding because it shows in replies:
   a listpack keeps scores as text and so turns -0 into 0. A set is compact
   while it has at most `COMPACT_MAX_ENTRIES` members of at most
   `COMPACT_MAX_MEMBER` bytes; once converted it never goes back (Redis 7.0).

Score and lex ranges are parsed here too (Redis's zslParseRange and
zslParseLexRange), with their lenient and strict spots kept exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sortedcontainers import SortedList

from queuekit.engine import errors
from queuekit.engine.errors import CommandError
from queuekit.engine.memory import zset_member_cost

COMPACT_MAX_ENTRIES = 128  # Redis's zset-max-listpack-entries default
COMPACT_MAX_MEMBER = 64  # bytes; Redis's zset-max-listpack-value default
LISTPACK_INT_LIMIT = 2**62  # double2ll's bound, LLONG_MAX/2 as a double


class ZSet:
    """A Redis sorted set."""

    __slots__ = ("_cost", "compact", "ordered", "scores")

    def __init__(self, *, compact: bool = True) -> None:
        self.scores: dict[bytes, float] = {}
        self.ordered: SortedList = SortedList()
        self.compact = compact
        self._cost = 0

    @classmethod
    def for_first_member(cls, member: bytes) -> ZSet:
        """A new set as ZADD creates it: compact unless its first member is too long."""
        return cls(compact=len(member) <= COMPACT_MAX_MEMBER)

    def __len__(self) -> int:
        return len(self.scores)

    def __bool__(self) -> bool:
        return bool(self.scores)

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        return iter(self.ordered)

    def members_cost(self) -> int:
        return self._cost

    def copy(self) -> ZSet:
        """An independent copy (COPY): members are immutable, so this is deep."""
        clone = ZSet(compact=self.compact)
        clone.scores = self.scores.copy()
        clone.ordered = self.ordered.copy()
        clone._cost = self._cost
        return clone

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    # -- changes (rule 1) ----------------------------------------------------

    def add(self, member: bytes, score: float) -> int:
        """Insert or move `member`; returns the change in estimated bytes."""
        scores = self.scores
        old = scores.get(member)
        if old is not None:
            if old == score:
                return 0
            if self.compact and score == 0.0:
                score = 0.0  # a listpack stores "-0" as 0
            self.ordered.remove((old, member))
            scores[member] = score
            self.ordered.add((score, member))
            return 0
        if self.compact:
            if len(scores) >= COMPACT_MAX_ENTRIES or len(member) > COMPACT_MAX_MEMBER:
                self.compact = False
            elif score == 0.0:
                score = 0.0
        scores[member] = score
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

    def pop(self, count: int, *, highest: bool) -> tuple[list[tuple[float, bytes]], int]:
        """Remove up to `count` lowest (or highest) entries, in pop order; and the byte change."""
        ordered, scores = self.ordered, self.scores
        index = -1 if highest else 0
        popped = [ordered.pop(index) for _ in range(min(count, len(ordered)))]
        cost = 0
        for _, member in popped:
            del scores[member]
            cost += zset_member_cost(member)
        self._cost -= cost
        return popped, -cost

    def remove_ranks(self, start: int, stop: int) -> tuple[int, int]:
        """Remove the entries ranked [start, stop); returns how many, and the byte change."""
        removed = self.entries(start, stop)
        del self.ordered[start:stop]
        scores = self.scores
        cost = 0
        for _, member in removed:
            del scores[member]
            cost += zset_member_cost(member)
        self._cost -= cost
        return len(removed), -cost

    # -- ranks and spans (rule 2) --------------------------------------------

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        return int(self.ordered.index((score, member)))

    def entry(self, rank: int) -> tuple[float, bytes]:
        entry: tuple[float, bytes] = self.ordered[rank]
        return entry

    def entries(self, start: int, stop: int, *, reverse: bool = False) -> list[tuple[float, bytes]]:
        """Entries ranked [start, stop), ascending, or descending when `reverse`."""
        return list(self.ordered.islice(start, stop, reverse=reverse))

    def slice(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        """Entries with ranks in [start, stop), ascending."""
        return self.entries(start, stop)

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

    def score_span(
        self, spec: ScoreRange, offset: int = 0, limit: int = -1, *, reverse: bool = False
    ) -> tuple[int, int]:
        """The ranks [start, stop) a score range covers after LIMIT offset count.

        As in Redis, a negative offset gives nothing and a negative count is
        no limit; a reverse range skips `offset` from its high end.
        """
        start = self.index_of_score(spec.low, exclusive=spec.low_open)
        stop = self.end_of_score(spec.high, exclusive=spec.high_open)
        return _limited(start, stop, offset, limit, reverse=reverse)

    def lex_span(
        self, spec: LexRange, offset: int = 0, limit: int = -1, *, reverse: bool = False
    ) -> tuple[int, int]:
        """The ranks [start, stop) a lex range covers after LIMIT offset count.

        Lex ranges assume one score for all members. When all scores are
        equal the span is two bisections. Otherwise the answer follows
        Redis's walk: from the first member >= min (the last <= max when
        reversed), skip `offset`, then take members while they stay in
        range. A compact set walks exactly as a listpack does; a large one
        bisects by position, since what Redis's skip list answers on such
        data depends on its random levels (the docs call it unspecified).
        The walk reads only the members it returns.
        """
        ordered = self.ordered
        size = len(ordered)
        if not size or offset < 0 or spec.is_empty():
            return 0, 0
        if not spec.above_min(ordered[-1][1]) or not spec.below_max(ordered[0][1]):
            return 0, 0
        first_score = ordered[0][0]
        if first_score == ordered[-1][0]:
            start = spec.low_rank(ordered, first_score)
            stop = spec.high_rank(ordered, first_score)
            return _limited(start, stop, offset, limit, reverse=reverse)
        if reverse:
            return self._walk_down(spec, offset, limit)
        return self._walk_up(spec, offset, limit)

    def _walk_up(self, spec: LexRange, offset: int, limit: int) -> tuple[int, int]:
        ordered = self.ordered
        first = self._first_where(spec.above_min)
        if first >= len(ordered) or not spec.below_max(ordered[first][1]):
            return 0, 0
        start = stop = first + offset
        end = len(ordered) if limit < 0 else min(len(ordered), start + limit)
        while stop < end and spec.below_max(ordered[stop][1]):
            stop += 1
        return (start, stop) if start < stop else (0, 0)

    def _walk_down(self, spec: LexRange, offset: int, limit: int) -> tuple[int, int]:
        ordered = self.ordered
        last = self._last_where(spec.below_max)
        if last < 0 or not spec.above_min(ordered[last][1]):
            return 0, 0
        start = stop = last + 1 - offset
        end = 0 if limit < 0 else max(0, stop - limit)
        while start > end and spec.above_min(ordered[start - 1][1]):
            start -= 1
        return (start, stop) if start < stop else (0, 0)

    def _first_where(self, test: Callable[[bytes], bool]) -> int:
        """The first rank whose member passes `test` (false then true), or the size.

        A compact set scans from the head as Redis scans a listpack, which is
        exact whatever the order; a large one bisects by position.
        """
        ordered = self.ordered
        if self.compact:
            for rank, (_, member) in enumerate(ordered):
                if test(member):
                    return rank
            return len(ordered)
        low, high = 0, len(ordered)
        while low < high:
            middle = (low + high) // 2
            if test(ordered[middle][1]):
                high = middle
            else:
                low = middle + 1
        return low

    def _last_where(self, test: Callable[[bytes], bool]) -> int:
        """The last rank whose member passes `test` (true then false), or -1.

        The mirror of `_first_where`: a compact set scans from the tail.
        """
        ordered = self.ordered
        if self.compact:
            for rank in range(len(ordered) - 1, -1, -1):
                if test(ordered[rank][1]):
                    return rank
            return -1
        low, high = 0, len(ordered)
        while low < high:
            middle = (low + high) // 2
            if test(ordered[middle][1]):
                low = middle + 1
            else:
                high = middle
        return low - 1


def _limited(start: int, stop: int, offset: int, limit: int, *, reverse: bool) -> tuple[int, int]:
    """Apply LIMIT offset count to the span [start, stop)."""
    if offset < 0 or start >= stop:
        return 0, 0
    if reverse:
        stop -= offset
        if limit >= 0:
            start = max(start, stop - limit)
    else:
        start += offset
        if limit >= 0:
            stop = min(stop, start + limit)
    return (start, stop) if start < stop else (0, 0)


def score_text(score: float, *, compact: bool) -> bytes:
    """A score as ZSCAN sends it, text as the encoding keeps it.

    A listpack stores a score as Redis's d2string writes it: an integral
    value within +-2**62 (double2ll's range) as a plain integer, anything
    else "%.17g"; a skip list's scores are printed "%.17g", inf spelled out.
    """
    if compact and -LISTPACK_INT_LIMIT <= score <= LISTPACK_INT_LIMIT and score.is_integer():
        return b"%d" % score
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    return b"%.17g" % score


# -- ranges ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreRange:
    """min and max of ZRANGEBYSCORE and friends; "(" makes a bound open."""

    low: float
    low_open: bool
    high: float
    high_open: bool


# C's isspace, which strtod skips before a number.
_C_SPACE = " \t\n\v\f\r"


def parse_score_bound(raw: bytes) -> tuple[float, bool]:
    """One bound as zslParseRange reads it: "(" then whatever strtod takes whole.

    strtod is laxer than ZADD's parser: it skips leading spaces, takes ""
    as 0, overflows to inf and underflows to 0. Only NaN and junk fail.
    """
    is_open = raw[:1] == b"("
    text = (raw[1:] if is_open else raw).decode("latin-1")
    body = text.lstrip(_C_SPACE)
    if not body:
        if text:  # only spaces: strtod converts nothing, the space is left over
            raise CommandError(errors.MIN_MAX_NOT_FLOAT)
        return 0.0, is_open
    try:
        value = _strtod(body)
    except ValueError:
        raise CommandError(errors.MIN_MAX_NOT_FLOAT) from None
    if math.isnan(value):
        raise CommandError(errors.MIN_MAX_NOT_FLOAT)
    return value, is_open


def _strtod(body: str) -> float:
    """A whole strtod number with no leading space: Python's float() minus its extras."""
    if "_" in body or body != body.strip():
        raise ValueError(body)
    if body.lstrip("+-")[:2].lower() == "0x":
        return float.fromhex(body)
    return float(body)


def parse_score_range(low: bytes, high: bytes) -> ScoreRange:
    low_value, low_open = parse_score_bound(low)
    high_value, high_open = parse_score_bound(high)
    return ScoreRange(low_value, low_open, high_value, high_open)


@dataclass(frozen=True, slots=True)
class LexBound:
    """A lex bound: `rank` -1 is "-", 1 is "+", 0 a member with `value`."""

    rank: int
    value: bytes
    open: bool


def parse_lex_bound(raw: bytes) -> LexBound:
    """zslParseLexRangeItem: "-", "+", "[member" or "(member"."""
    head = raw[:1]
    if head == b"[":
        return LexBound(0, raw[1:], False)
    if head == b"(":
        return LexBound(0, raw[1:], True)
    if raw == b"-":
        return LexBound(-1, b"", True)
    if raw == b"+":
        return LexBound(1, b"", True)
    raise CommandError(errors.MIN_MAX_NOT_STRING_RANGE)


@dataclass(frozen=True, slots=True)
class LexRange:
    """min and max of ZRANGEBYLEX and friends."""

    low: LexBound
    high: LexBound

    def is_empty(self) -> bool:
        """Redis's early out: min above max, or equal with either open."""
        low, high = self.low, self.high
        low_key, high_key = (low.rank, low.value), (high.rank, high.value)
        return low_key > high_key or (low_key == high_key and (low.open or high.open))

    def above_min(self, member: bytes) -> bool:
        low = self.low
        if low.rank:
            return low.rank < 0
        return member > low.value if low.open else member >= low.value

    def below_max(self, member: bytes) -> bool:
        high = self.high
        if high.rank:
            return high.rank > 0
        return member < high.value if high.open else member <= high.value

    def low_rank(self, ordered: SortedList, score: float) -> int:
        """First rank at or above min, when every member has `score`."""
        low = self.low
        if low.rank:
            return 0 if low.rank < 0 else len(ordered)
        if low.open:
            return int(ordered.bisect_right((score, low.value)))
        return int(ordered.bisect_left((score, low.value)))

    def high_rank(self, ordered: SortedList, score: float) -> int:
        """One past the last rank at or below max, when every member has `score`."""
        high = self.high
        if high.rank:
            return len(ordered) if high.rank > 0 else 0
        if high.open:
            return int(ordered.bisect_left((score, high.value)))
        return int(ordered.bisect_right((score, high.value)))


def parse_lex_range(low: bytes, high: bytes) -> LexRange:
    return LexRange(parse_lex_bound(low), parse_lex_bound(high))


class _AfterEveryMember(bytes):
    """Compares greater than any member, so (score, mark) follows every (score, m).

    Members are arbitrary bytes, so no real bytes value can play this part;
    a subclass wins the comparison because Python asks it first.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True

    def __le__(self, other: object) -> bool:
        return self is other

    def __ge__(self, other: object) -> bool:
        return True


_AFTER_MARK = _AfterEveryMember()
