"""Schedules of periodic tasks: 5-field cron expressions and fixed intervals.

    Cron.parse("*/15 9-17 * * mon-fri").next_after(ms)           # the next tick, Unix ms (UTC)
    Cron.parse("30 2 * * *").next_after(ms, tz="Europe/Berlin")  # in a zone's wall-clock time
    Schedule.build(every=timedelta(minutes=5))                    # ticks at k * 5 min since 1970

Cron syntax is Vixie cron's: five fields, minute (0-59), hour (0-23),
day-of-month (1-31), month (1-12 or jan-dec), day-of-week (0-7 or sun-sat; 0
and 7 are Sunday). Each field is a comma list of `*`, `n`, `a-b`, `*/s` and
`a-b/s`; names are case-insensitive. Or one of @hourly, @daily (@midnight),
@weekly, @monthly, @yearly (@annually).

Rules:
1. Vixie's day rule: when both day fields are restricted, a day matches if
   either matches. A day field counts as unrestricted when its text starts
   with `*` (crontab's own test, so `*/2` counts as unrestricted too).
2. A tick is an instant whose wall-clock time in the zone (UTC by default) is
   a whole minute the fields match. So in a daylight-saving gap the skipped
   wall times never happen (a 02:30 job does not run that night) and in the
   repeated hour a matching wall time happens twice. UTC has neither.
3. `next_after` never scans minute by minute: it skips whole months, days and
   hours. In a zone it searches each stretch of constant UTC offset on its
   own, finding offset changes by probing once a day (since 1970 the tz
   database has no two offset changes less than 7 days apart).
4. Parsing refuses what can never run (a value out of range, a backwards
   range, a step of 0, "0 0 30 2 *"): InvalidOptionError naming the field,
   the value and what is allowed. Every accepted expression ticks at least
   once every 8 years (29 February), which bounds every search.
5. `Every` ticks are aligned to the Unix epoch (tick k at k * period), so all
   workers agree on tick times without talking to each other.
"""

from __future__ import annotations

import bisect
import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from queuekit.errors import InvalidOptionError

MINUTE_MS = 60_000
DAY_MS = 86_400_000
MIN_EVERY_S = 1.0  # a shorter period would make every worker's once-a-second poll late
MISFIRE_GRACE_S = 60.0  # how old the latest tick may be and still run after a gap (periodic.py)
_MAX_STEPS = 20_000  # search steps; 8 years of day-by-day steps take about 3,000
_MAX_DOUBLINGS = 48  # 2**48 minutes: far past any 8-year gap

_EPOCH = datetime.datetime(1970, 1, 1)
_ONE_MS = datetime.timedelta(milliseconds=1)
_MINUTE = datetime.timedelta(minutes=1)
_HOUR = datetime.timedelta(hours=1)
_DAY = datetime.timedelta(days=1)

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February at its longest
ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int  # the highest value written (7 for day-of-week, which folds to 0)
    star_high: int  # the highest value `*` covers
    names: tuple[str, ...] = ()  # names[i] means low + i

    @property
    def allowed(self) -> str:
        named = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{named}"


_FIELDS = (
    _Field("minute", 0, 59, 59),
    _Field("hour", 0, 23, 23),
    _Field("day-of-month", 1, 31, 31),
    _Field("month", 1, 12, 12, MONTH_NAMES),
    _Field("day-of-week", 0, 7, 6, WEEKDAY_NAMES),
)


def _refuse(text: str, problem: str) -> InvalidOptionError:
    return InvalidOptionError(f"cron {text!r}: {problem}")


def _value(token: str, spec: _Field, text: str) -> int:
    """One number or name of a field, checked against its range."""
    lowered = token.lower()
    if lowered in spec.names:
        return spec.low + spec.names.index(lowered)
    if not (token.isascii() and token.isdigit()):
        raise _refuse(
            text, f"{spec.name} value {token!r} is not a number or name (allowed {spec.allowed})"
        )
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise _refuse(text, f"{spec.name} value {value} is out of range {spec.allowed}")
    return value


def _item(item: str, spec: _Field, text: str) -> range:
    """The values of one list item: `*`, `n`, `a-b`, `*/s` or `a-b/s`."""
    base, slash, step_text = item.partition("/")
    if base == "*":
        low, high = spec.low, spec.star_high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(first, spec, text), _value(last, spec, text)
        if low > high:
            raise _refuse(
                text,
                f"{spec.name} range {base!r} runs backwards (allowed {spec.allowed}, "
                "low to high; write a list such as '6,0' to wrap around)",
            )
    else:
        low = high = _value(base, spec, text)
        if slash:
            raise _refuse(
                text,
                f"{spec.name} step {item!r} needs a range: write "
                f"'{base}-{spec.star_high}/{step_text}' or '*/{step_text}'",
            )
    if not slash:
        return range(low, high + 1)
    span = spec.star_high - spec.low + 1
    if not (step_text.isascii() and step_text.isdigit()) or not 1 <= int(step_text) <= span:
        raise _refuse(text, f"{spec.name} step {step_text!r} is out of range 1-{span}")
    return range(low, high + 1, int(step_text))


def _field_values(part: str, spec: _Field, text: str) -> tuple[int, ...]:
    values: set[int] = set()
    for item in part.split(","):
        values.update(_item(item, spec, text))
    if spec.name == "day-of-week" and 7 in values:
        values.discard(7)
        values.add(0)  # 7 is Sunday again
    return tuple(sorted(values))


def _zone(tz: str | datetime.tzinfo | None) -> datetime.tzinfo | None:
    """The zone for `tz`; None for UTC, which takes the fast path."""
    if tz is None or tz == "UTC" or tz is datetime.UTC:
        return None
    if isinstance(tz, datetime.tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise InvalidOptionError(
            f"tz {tz!r} is not a zone of the tz database (write e.g. 'Europe/Berlin'): {error}"
        ) from None


def _offset_ms(zone: datetime.tzinfo, ms: int) -> int:
    """The zone's UTC offset at instant `ms` (offsets change on whole seconds)."""
    offset = datetime.datetime.fromtimestamp(ms // 1000, zone).utcoffset()
    return 0 if offset is None else offset // _ONE_MS


def _naive(ms: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(milliseconds=ms)


def _ms(wall: datetime.datetime) -> int:
    return (wall - _EPOCH) // _ONE_MS


def _offset_change(zone: datetime.tzinfo, start: int, end: int, offset: int) -> int | None:
    """The first instant in (start, end] whose offset is not `offset`, or None (rule 3)."""
    low = start
    while low < end:
        probe = min(low + DAY_MS, end)
        if _offset_ms(zone, probe) != offset:
            high = probe  # low has `offset`, high has another: bisect to the change
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_ms(zone, middle) == offset:
                    low = middle
                else:
                    high = middle
            return high
        low = probe
    return None


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed cron expression; the value tuples are sorted (weekday 0 = Sunday)."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]
    any_day: bool  # the day-of-month field starts with '*' (rule 1)
    any_weekday: bool  # the day-of-week field starts with '*'

    @classmethod
    def parse(cls, text: str) -> Cron:
        """The expression `text`, or InvalidOptionError saying what is wrong (rule 4)."""
        if not isinstance(text, str):
            raise InvalidOptionError(f"cron {text!r} must be a str such as '*/5 * * * *'")
        expression = text.strip()
        if expression.startswith("@"):
            if expression.lower() not in ALIASES:
                raise _refuse(text, f"unknown alias; use one of {', '.join(ALIASES)}")
            expression = ALIASES[expression.lower()]
        parts = expression.split()
        if len(parts) != len(_FIELDS):
            raise _refuse(
                text,
                f"has {len(parts)} fields, not 5: write minute hour day-of-month month "
                "day-of-week, e.g. '*/5 * * * *', or an alias such as @daily",
            )
        minutes, hours, days, months, weekdays = (
            _field_values(part, spec, text) for part, spec in zip(parts, _FIELDS, strict=True)
        )
        any_day, any_weekday = parts[2].startswith("*"), parts[4].startswith("*")
        cron = cls(text, minutes, hours, days, months, weekdays, any_day, any_weekday)
        cron._check_days_exist()
        return cron

    def _check_days_exist(self) -> None:
        """Rule 4: with only day-of-month restricted, an allowed month must have one of its days."""
        if self.any_day or not self.any_weekday:
            return  # every month has every weekday and, unrestricted, every day
        if not any(self.days[0] <= _DAYS_IN_MONTH[month - 1] for month in self.months):
            raise _refuse(
                self.text,
                f"never matches: no month it allows has day {self.days[0]} "
                f"(day-of-month {self.days[0]} is past the end of month(s) "
                f"{','.join(map(str, self.months))})",
            )

    def __str__(self) -> str:
        return self.text

    def _day_matches(self, day: datetime.date) -> bool:
        in_month = day.day in self.days
        in_week = (day.weekday() + 1) % 7 in self.weekdays  # Python's Monday 0 -> cron's 1
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def _wall_matches(self, wall: datetime.datetime) -> bool:
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and self._day_matches(wall)
        )

    def matches(self, ms: int, tz: str | datetime.tzinfo | None = None) -> bool:
        """Whether instant `ms` (Unix ms) is a tick: a matching whole minute of wall time."""
        zone = _zone(tz)
        wall = ms + (0 if zone is None else _offset_ms(zone, ms))
        return wall % MINUTE_MS == 0 and self._wall_matches(_naive(wall))

    def next_after(self, ms: int, tz: str | datetime.tzinfo | None = None) -> int:
        """The first tick strictly after `ms` (Unix ms), in `tz`'s wall time (UTC by default)."""
        zone = _zone(tz)
        start = ms + 1
        if zone is None:
            return _ms(self._next_wall(_naive(start)))
        for _ in range(_MAX_STEPS):
            offset = _offset_ms(zone, start)
            tick = _ms(self._next_wall(_naive(start + offset))) - offset
            change = _offset_change(zone, start, tick, offset)
            if change is None:
                return tick
            start = change  # no tick before the change: search the next stretch
        raise RuntimeError(f"cron {self.text!r}: no tick found after {ms} in {tz}")

    def _next_wall(self, start: datetime.datetime) -> datetime.datetime:
        """The first matching wall time at or after `start` (rule 3: skip, never scan)."""
        wall = start.replace(second=0, microsecond=0)
        if wall != start:
            wall += _MINUTE
        for _ in range(_MAX_STEPS):
            if wall.month not in self.months:
                wall = self._next_month(wall)
            elif not self._day_matches(wall):
                wall = datetime.datetime(wall.year, wall.month, wall.day) + _DAY
            elif wall.hour not in self.hours:
                hour = bisect.bisect_left(self.hours, wall.hour)
                day = datetime.datetime(wall.year, wall.month, wall.day)
                wall = day + _DAY if hour == len(self.hours) else day.replace(hour=self.hours[hour])
            elif wall.minute not in self.minutes:
                minute = bisect.bisect_left(self.minutes, wall.minute)
                if minute == len(self.minutes):
                    wall = wall.replace(minute=0) + _HOUR
                else:
                    wall = wall.replace(minute=self.minutes[minute])
            else:
                return wall
        raise RuntimeError(f"cron {self.text!r}: no tick found after {start}")

    def _next_month(self, wall: datetime.datetime) -> datetime.datetime:
        """Midnight on the 1st of the next allowed month after `wall`'s."""
        index = bisect.bisect_right(self.months, wall.month)
        if index < len(self.months):
            return datetime.datetime(wall.year, self.months[index], 1)
        return datetime.datetime(wall.year + 1, self.months[0], 1)

    def count_between(
        self, after_ms: int, until_ms: int, tz: str | datetime.tzinfo | None = None
    ) -> int:
        """How many ticks t have after_ms < t <= until_ms (whole days are counted at once)."""
        zone = _zone(tz)
        count, tick = 0, after_ms
        per_day = len(self.hours) * len(self.minutes)
        while True:
            tick = self.next_after(tick, zone)
            if tick > until_ms:
                return count
            count += 1
            last = self._last_of_day(tick, zone)
            if last is not None and last <= until_ms:
                count, tick = count + per_day - 1, last

    def _last_of_day(self, tick: int, zone: datetime.tzinfo | None) -> int | None:
        """If `tick` is its day's first and the day keeps one offset, the day's last tick."""
        offset = 0 if zone is None else _offset_ms(zone, tick)
        wall = _naive(tick + offset)
        if (wall.hour, wall.minute) != (self.hours[0], self.minutes[0]):
            return None
        last = _ms(wall.replace(hour=self.hours[-1], minute=self.minutes[-1])) - offset
        if zone is not None and _offset_ms(zone, last) != offset:
            return None  # a change inside the day: count it tick by tick
        return last


@dataclass(frozen=True, slots=True)
class Every:
    """A fixed period in ms, ticks aligned to the Unix epoch (rule 5)."""

    period_ms: int

    def next_after(self, ms: int) -> int:
        return (ms // self.period_ms + 1) * self.period_ms

    def latest_at_or_before(self, ms: int) -> int:
        return ms // self.period_ms * self.period_ms

    def count_between(self, after_ms: int, until_ms: int) -> int:
        return max(0, until_ms // self.period_ms - after_ms // self.period_ms)

    def __str__(self) -> str:
        return f"every {self.period_ms / 1000:g} s"


def every_ms(every: object) -> int:
    """`every` (a timedelta or seconds) as a period in ms, at least MIN_EVERY_S."""
    value = every.total_seconds() if isinstance(every, datetime.timedelta) else every
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidOptionError(f"every {every!r} is not a timedelta or a number of seconds")
    if value < MIN_EVERY_S:
        raise InvalidOptionError(
            f"every {every!r} is {value:g} s, under the minimum of {MIN_EVERY_S:g} s"
        )
    return round(value * 1000)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a periodic task ticks (a cron expression in a zone, or a period), and the
    arguments each periodic run gets."""

    timing: Cron | Every
    tz: str | None = None  # cron only: the zone whose wall time the fields match
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    misfire_grace: float = MISFIRE_GRACE_S  # seconds; see periodic.py

    @classmethod
    def build(
        cls,
        *,
        cron: str | None = None,
        every: datetime.timedelta | float | None = None,
        tz: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        misfire_grace: float = MISFIRE_GRACE_S,
    ) -> Schedule:
        """A checked Schedule: exactly one of `cron` and `every`; `tz` only with cron."""
        if (cron is None) == (every is None):
            raise InvalidOptionError(
                f"give cron= or every=, exactly one (got cron={cron!r}, every={every!r})"
            )
        timing: Cron | Every
        if cron is not None:
            timing = Cron.parse(cron)
            _zone(tz)  # refuse an unknown zone now
        else:
            if tz is not None:
                raise InvalidOptionError(
                    f"tz {tz!r} applies to cron schedules; every= ticks count from the Unix epoch"
                )
            timing = Every(every_ms(every))
        if isinstance(misfire_grace, bool) or not isinstance(misfire_grace, int | float):
            raise InvalidOptionError(f"misfire_grace {misfire_grace!r} is not a number of seconds")
        if not (math.isfinite(misfire_grace) and misfire_grace >= 0):
            raise InvalidOptionError(
                f"misfire_grace {misfire_grace!r} must be finite and 0 or more seconds"
            )
        return cls(timing, tz, tuple(args), dict(kwargs or {}), float(misfire_grace))

    def __str__(self) -> str:
        if isinstance(self.timing, Every):
            return str(self.timing)
        return f"cron {self.timing.text!r}" + (f" in {self.tz}" if self.tz else "")

    def next_after(self, ms: int) -> int:
        """The first tick strictly after `ms` (Unix ms)."""
        if isinstance(self.timing, Every):
            return self.timing.next_after(ms)
        return self.timing.next_after(ms, self.tz)

    def latest_at_or_before(self, ms: int) -> int:
        """The last tick at or before `ms`: found by doubling back, then bisecting."""
        if isinstance(self.timing, Every):
            return self.timing.latest_at_or_before(ms)
        span = MINUTE_MS
        for _ in range(_MAX_DOUBLINGS):
            if self.next_after(ms - span) <= ms:
                break
            span *= 2
        low, high = ms - span, ms  # next_after(low) <= ms < next_after(high)
        while high - low > 1:
            middle = (low + high) // 2
            if self.next_after(middle) <= ms:
                low = middle
            else:
                high = middle
        return self.next_after(low)

    def count_between(self, after_ms: int, until_ms: int) -> int:
        """How many ticks t have after_ms < t <= until_ms."""
        if isinstance(self.timing, Every):
            return self.timing.count_between(after_ms, until_ms)
        return self.timing.count_between(after_ms, until_ms, self.tz)
