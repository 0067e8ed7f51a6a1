"""Cron expressions and schedules: parsing, next ticks in UTC and in zones, counting."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queuekit.errors import InvalidOptionError
from queuekit.jobs.cron import MINUTE_MS, Cron, Every, Schedule, every_ms

UTC = datetime.UTC


def ms(text: str, tz: str = "UTC") -> int:
    """Unix ms of an ISO wall time in `tz`."""
    wall = datetime.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))
    return int(wall.timestamp() * 1000)


def iso(value: int, tz: str = "UTC") -> str:
    """The ISO wall time (with offset) of Unix ms `value` in `tz`."""
    return datetime.datetime.fromtimestamp(value / 1000, ZoneInfo(tz)).isoformat(timespec="minutes")


NEXT_UTC = [
    # expression, after (UTC), the next tick (UTC)
    ("* * * * *", "2025-01-01T12:03:00", "2025-01-01T12:04"),
    ("* * * * *", "2025-01-01T12:03:59.999", "2025-01-01T12:04"),
    ("*/5 * * * *", "2025-01-01T12:03:10", "2025-01-01T12:05"),
    ("*/5 * * * *", "2025-01-01T12:05:00", "2025-01-01T12:10"),
    ("*/5 * * * *", "2025-01-01T23:58:00", "2025-01-02T00:00"),
    ("7 * * * *", "2025-01-01T12:07:00", "2025-01-01T13:07"),
    ("0 9-17 * * *", "2025-01-01T17:00:00", "2025-01-02T09:00"),
    ("10-20/5 * * * *", "2025-01-01T12:16:00", "2025-01-01T12:20"),
    ("10-20/5 * * * *", "2025-01-01T12:20:00", "2025-01-01T13:10"),
    ("5,35,50 3 * * *", "2025-01-01T03:36:00", "2025-01-01T03:50"),
    ("1,2-4,*/30 * * * *", "2025-01-01T12:04:00", "2025-01-01T12:30"),
    ("0 0 1 * *", "2025-01-15T00:00:00", "2025-02-01T00:00"),
    ("0 0 31 * *", "2025-04-01T00:00:00", "2025-05-31T00:00"),
    ("0 0 29 2 *", "2025-01-01T00:00:00", "2028-02-29T00:00"),
    ("0 0 29 2 *", "2096-03-01T00:00:00", "2104-02-29T00:00"),  # 2100 is no leap year
    ("0 0 1 1 *", "2025-12-31T23:59:00", "2026-01-01T00:00"),
    ("0 12 * jan,JUL *", "2025-02-01T00:00:00", "2025-07-01T12:00"),
    ("0 12 * Mar-May/2 *", "2025-03-31T12:00:00", "2025-05-01T12:00"),
    ("30 8 * * MON-fri", "2025-01-03T08:30:00", "2025-01-06T08:30"),  # Friday to Monday
    ("0 0 * * 7", "2025-01-01T00:00:00", "2025-01-05T00:00"),  # 7 is Sunday
    ("0 0 * * 0", "2025-01-01T00:00:00", "2025-01-05T00:00"),
    ("0 0 * * sun", "2025-01-01T00:00:00", "2025-01-05T00:00"),
    ("0 0 * * 5-7", "2025-01-04T00:00:00", "2025-01-05T00:00"),  # Saturday to Sunday
    # Vixie's day rule: both day fields restricted, either matches.
    ("0 0 13 * fri", "2025-01-01T00:00:00", "2025-01-03T00:00"),  # Friday the 3rd
    ("0 0 13 * fri", "2025-01-10T00:00:00", "2025-01-13T00:00"),  # Monday the 13th
    ("0 0 1,15 * 1", "2025-01-01T00:00:00", "2025-01-06T00:00"),
    # A day field starting with '*' is unrestricted for the rule: both must match.
    ("0 0 */2 * 1", "2025-01-01T00:00:00", "2025-01-13T00:00"),  # Monday on an odd day
    ("0 0 * * 1", "2025-01-01T00:00:00", "2025-01-06T00:00"),
    ("0 0 1 * *", "2025-01-01T00:00:00", "2025-02-01T00:00"),
    ("@hourly", "2025-01-01T12:00:00", "2025-01-01T13:00"),
    ("@daily", "2025-01-01T12:00:00", "2025-01-02T00:00"),
    ("@MIDNIGHT", "2025-01-01T12:00:00", "2025-01-02T00:00"),
    ("@weekly", "2025-01-01T12:00:00", "2025-01-05T00:00"),
    ("@monthly", "2025-01-01T12:00:00", "2025-02-01T00:00"),
    ("@yearly", "2025-01-01T12:00:00", "2026-01-01T00:00"),
    ("@annually", "2025-01-01T12:00:00", "2026-01-01T00:00"),
    ("  */15   *  * * *  ", "2025-01-01T12:00:00", "2025-01-01T12:15"),
]


@pytest.mark.parametrize(("expression", "after", "expected"), NEXT_UTC)
def test_next_tick_in_utc(expression: str, after: str, expected: str) -> None:
    """next_after gives the first matching minute strictly after the time, in UTC."""
    cron = Cron.parse(expression)
    tick = cron.next_after(ms(after))
    assert iso(tick)[:16] == expected
    assert cron.matches(tick)
    assert not cron.matches(tick + 1)  # a tick is a whole minute


NEXT_IN_ZONE = [
    # zone, expression, after (UTC), the next ticks (wall time in the zone)
    ("Europe/Berlin", "0 9 * * *", "2025-01-01T09:00", ["2025-01-02T09:00+01:00"]),
    # Spring forward on 30 March: 02:30 does not happen that night.
    (
        "Europe/Berlin",
        "30 2 * * *",
        "2025-03-29T12:00",
        ["2025-03-31T02:30+02:00", "2025-04-01T02:30+02:00"],
    ),
    # Fall back on 26 October: 02:30 happens twice.
    (
        "Europe/Berlin",
        "30 2 * * *",
        "2025-10-25T12:00",
        ["2025-10-26T02:30+02:00", "2025-10-26T02:30+01:00", "2025-10-27T02:30+01:00"],
    ),
    (
        "Europe/Berlin",
        "0 * * * *",
        "2025-10-25T23:30",
        ["2025-10-26T02:00+02:00", "2025-10-26T02:00+01:00", "2025-10-26T03:00+01:00"],
    ),
    (
        "America/New_York",
        "0 2 * * *",
        "2025-03-08T12:00",
        ["2025-03-10T02:00-04:00"],
    ),
    ("Asia/Kathmandu", "*/30 * * * *", "2025-01-01T00:00", ["2025-01-01T06:00+05:45"]),
    # Lord Howe moves its clocks by 30 minutes.
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        "2025-04-05T12:00",
        ["2025-04-06T02:15+10:30", "2025-04-07T02:15+10:30"],
    ),
    ("UTC", "0 0 * * *", "2025-01-01T00:00", ["2025-01-02T00:00+00:00"]),
]


@pytest.mark.parametrize(("zone", "expression", "after", "expected"), NEXT_IN_ZONE)
def test_next_ticks_in_a_zone(zone: str, expression: str, after: str, expected: list[str]) -> None:
    """In a zone the fields match its wall time; DST gaps skip, repeated hours run twice."""
    cron = Cron.parse(expression)
    tick, found = ms(after), []
    for _ in expected:
        tick = cron.next_after(tick, zone)
        found.append(iso(tick, zone))
        assert cron.matches(tick, zone)
    assert found == expected


def test_a_zone_object_works_like_its_name() -> None:
    """tz may be a tzinfo as well as a name."""
    cron = Cron.parse("0 9 * * *")
    start = ms("2025-06-01T00:00")
    assert cron.next_after(start, ZoneInfo("Europe/Berlin")) == cron.next_after(
        start, "Europe/Berlin"
    )
    assert cron.next_after(start, UTC) == cron.next_after(start)


def test_parse_keeps_the_values_and_the_day_rule() -> None:
    """Parsing expands lists, ranges, steps and names; 7 folds to Sunday (0)."""
    cron = Cron.parse("0,30 */6 1-10/3 jan,Dec sat-7")
    assert cron.minutes == (0, 30)
    assert cron.hours == (0, 6, 12, 18)
    assert cron.days == (1, 4, 7, 10)
    assert cron.months == (1, 12)
    assert cron.weekdays == (0, 6)
    assert (cron.any_day, cron.any_weekday) == (False, False)
    assert str(cron) == "0,30 */6 1-10/3 jan,Dec sat-7"
    assert Cron.parse("* * */2 * *").any_day


BAD = [
    ("", "has 0 fields, not 5"),
    ("* * * *", "has 4 fields, not 5"),
    ("* * * * * *", "has 6 fields, not 5"),
    ("60 * * * *", "minute value 60 is out of range 0-59"),
    ("* 24 * * *", "hour value 24 is out of range 0-23"),
    ("* * 0 * *", "day-of-month value 0 is out of range 1-31"),
    ("* * 32 * *", "day-of-month value 32 is out of range 1-31"),
    ("* * * 13 *", "month value 13 is out of range 1-12 or jan-dec"),
    ("* * * * 8", "day-of-week value 8 is out of range 0-7 or sun-sat"),
    ("* * * foo *", "month value 'foo' is not a number or name (allowed 1-12 or jan-dec)"),
    ("* * * * mon-xyz", "day-of-week value 'xyz' is not a number or name"),
    ("mon * * * *", "minute value 'mon' is not a number or name (allowed 0-59)"),
    ("* * * * jan", "day-of-week value 'jan' is not a number or name"),
    ("-1 * * * *", "minute value '' is not a number or name"),
    ("1,,2 * * * *", "minute value '' is not a number or name"),
    ("\uff15 * * * *", "minute value '\uff15' is not a number or name"),  # a fullwidth 5
    ("30-10 * * * *", "minute range '30-10' runs backwards"),
    ("* * * * sat-sun", "day-of-week range 'sat-sun' runs backwards"),
    ("*/0 * * * *", "minute step '0' is out of range 1-60"),
    ("* */25 * * *", "hour step '25' is out of range 1-24"),
    ("*/x * * * *", "minute step 'x' is out of range 1-60"),
    ("5/15 * * * *", "minute step '5/15' needs a range: write '5-59/15' or '*/15'"),
    ("0 0 30 2 *", "never matches: no month it allows has day 30"),
    ("0 0 31 4,6,9,11 *", "never matches: no month it allows has day 31"),
    ("@reboot", "unknown alias; use one of @hourly"),
    ("@every 5m", "unknown alias"),
]


@pytest.mark.parametrize(("expression", "message"), BAD)
def test_bad_expressions_are_refused_naming_field_value_and_range(
    expression: str, message: str
) -> None:
    """A bad expression raises InvalidOptionError quoting it and saying what is allowed."""
    with pytest.raises(InvalidOptionError) as raised:
        Cron.parse(expression)
    assert message in str(raised.value)
    assert repr(expression) in str(raised.value)


def test_impossible_days_are_fine_when_a_weekday_also_matches() -> None:
    """'30 2' with a weekday is accepted: by Vixie's rule the weekday alone matches."""
    cron = Cron.parse("0 0 30 feb mon")
    assert iso(cron.next_after(ms("2025-01-01T00:00")))[:10] == "2025-02-03"


def test_a_non_text_expression_is_refused() -> None:
    """Only str is parsed."""
    with pytest.raises(InvalidOptionError, match="must be a str"):
        Cron.parse(5)  # type: ignore[arg-type]


COUNTS = [
    ("* * * * *", "2025-01-01T00:00", "2025-01-01T01:00", 60),
    ("* * * * *", "2025-01-01T00:00", "2026-01-01T00:00", 365 * 1440),
    ("*/5 9-17 * * mon-fri", "2025-01-01T00:00", "2025-01-08T00:00", 5 * 9 * 12),
    ("0 0 29 2 *", "2025-01-01T00:00", "2041-01-01T00:00", 4),
    ("0 0 1 * *", "2025-01-01T00:00", "2025-01-01T00:00", 0),
]


@pytest.mark.parametrize(("expression", "after", "until", "expected"), COUNTS)
def test_count_between_counts_ticks_after_and_up_to(
    expression: str, after: str, until: str, expected: int
) -> None:
    """count_between counts the ticks t with after < t <= until."""
    assert Cron.parse(expression).count_between(ms(after), ms(until)) == expected


def test_counting_a_zone_year_sees_the_lost_and_the_repeated_hour() -> None:
    """A Berlin year has as many minutes as a UTC year: one hour lost, one repeated."""
    cron = Cron.parse("* * * * *")
    year = (ms("2025-01-01T00:00", "Europe/Berlin"), ms("2026-01-01T00:00", "Europe/Berlin"))
    assert cron.count_between(*year, "Europe/Berlin") == 365 * 1440
    hourly = Cron.parse("0 * * * *")
    spring = (ms("2025-03-30T00:00", "Europe/Berlin"), ms("2025-03-31T00:00", "Europe/Berlin"))
    autumn = (ms("2025-10-26T00:00", "Europe/Berlin"), ms("2025-10-27T00:00", "Europe/Berlin"))
    assert hourly.count_between(*spring, "Europe/Berlin") == 23
    assert hourly.count_between(*autumn, "Europe/Berlin") == 25


def test_every_ticks_are_aligned_to_the_epoch() -> None:
    """Every(p) ticks at multiples of p since 1970, whatever time asks."""
    every = Every(7 * MINUTE_MS)
    start = ms("2025-01-01T12:00:30")
    tick = every.next_after(start)
    assert tick % (7 * MINUTE_MS) == 0 and start < tick <= start + 7 * MINUTE_MS
    assert every.next_after(tick) == tick + 7 * MINUTE_MS
    assert every.latest_at_or_before(tick) == tick
    assert every.latest_at_or_before(tick - 1) == tick - 7 * MINUTE_MS
    assert every.count_between(tick - 1, tick + 21 * MINUTE_MS) == 4
    assert str(every) == "every 420 s"


@pytest.mark.parametrize(
    ("every", "expected"),
    [(1, 1000), (2.5, 2500), (datetime.timedelta(minutes=5), 300_000), (86400, 86_400_000)],
)
def test_every_accepts_seconds_and_timedeltas(every: object, expected: int) -> None:
    """every= takes a number of seconds or a timedelta."""
    assert every_ms(every) == expected


@pytest.mark.parametrize(
    ("every", "message"),
    [
        (0, "every 0 is 0 s, under the minimum of 1 s"),
        (0.5, "every 0.5 is 0.5 s, under the minimum of 1 s"),
        (-60, "under the minimum of 1 s"),
        (datetime.timedelta(milliseconds=10), "is 0.01 s, under the minimum of 1 s"),
        (float("nan"), "not a timedelta or a number of seconds"),
        (float("inf"), "not a timedelta or a number of seconds"),
        (True, "not a timedelta or a number of seconds"),
        ("5m", "not a timedelta or a number of seconds"),
    ],
)
def test_bad_intervals_are_refused(every: object, message: str) -> None:
    """every= must be a finite period of at least 1 s."""
    with pytest.raises(InvalidOptionError, match="every") as raised:
        every_ms(every)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give cron= or every=, exactly one"),
        ({"cron": "* * * * *", "every": 60}, "give cron= or every=, exactly one"),
        ({"every": 60, "tz": "Europe/Berlin"}, "applies to cron schedules"),
        ({"cron": "* * * * *", "tz": "Mars/Olympus"}, "tz 'Mars/Olympus' is not a zone"),
        ({"cron": "* * * * *", "tz": "../etc/passwd"}, "is not a zone"),
        ({"every": 60, "misfire_grace": -1}, "misfire_grace -1 must be finite and 0 or more"),
        ({"every": 60, "misfire_grace": "1m"}, "misfire_grace '1m' is not a number"),
    ],
)
def test_bad_schedules_are_refused(options: dict[str, object], message: str) -> None:
    """Schedule.build checks the combination of its options."""
    with pytest.raises(InvalidOptionError) as raised:
        Schedule.build(**options)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_a_schedule_finds_its_latest_tick() -> None:
    """latest_at_or_before finds the last tick by bisection, in UTC and in a zone."""
    daily = Schedule.build(cron="0 3 * * *")
    assert iso(daily.latest_at_or_before(ms("2025-01-01T12:00"))) == "2025-01-01T03:00+00:00"
    assert iso(daily.latest_at_or_before(ms("2025-01-01T03:00"))) == "2025-01-01T03:00+00:00"
    assert iso(daily.latest_at_or_before(ms("2025-01-01T02:59"))) == "2024-12-31T03:00+00:00"
    leap = Schedule.build(cron="0 0 29 2 *", tz="Europe/Berlin")
    found = leap.latest_at_or_before(ms("2031-01-01T00:00"))
    assert iso(found, "Europe/Berlin") == "2028-02-29T00:00+01:00"
    assert str(leap) == "cron '0 0 29 2 *' in Europe/Berlin"
    assert str(Schedule.build(every=90)) == "every 90 s"


# -- properties -------------------------------------------------------------------

SCAN_MINUTES = 3 * 24 * 60  # the brute-force scan looks this far at most
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
AROUND = [  # instants near DST changes, a leap day and a year's end
    ms("2025-03-30T00:30"),
    ms("2025-10-26T00:30"),
    ms("2025-03-09T06:30"),
    ms("2025-11-02T05:30"),
    ms("2025-04-05T14:30"),
    ms("2025-10-04T15:30"),
    ms("2024-02-28T23:00"),
    ms("2025-12-31T22:00"),
]


def _items(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    token = value.map(str)
    if names:
        token = token | st.sampled_from(names).map(lambda name: name.title())
    ranges = st.tuples(value, value).map(lambda pair: f"{min(pair)}-{max(pair)}")
    steps = st.integers(1, high - low + 1)
    return st.one_of(
        st.just("*"),
        token,
        ranges,
        steps.map(lambda step: f"*/{step}"),
        st.tuples(ranges, steps).map(lambda pair: f"{pair[0]}/{pair[1]}"),
    )


def _field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    return st.lists(_items(low, high, names), min_size=1, max_size=3).map(",".join)


def _valid(text: str) -> bool:
    try:
        Cron.parse(text)
    except InvalidOptionError:
        return False
    return True


EXPRESSIONS = (
    st.tuples(
        _field(0, 59),
        _field(0, 23) | st.just("*"),
        st.just("*") | _field(1, 31),
        st.just("*") | _field(1, 12, ("jan", "feb", "mar", "oct", "nov", "dec")),
        st.just("*") | _field(0, 7, ("sun", "mon", "fri", "sat")),
    )
    .map(" ".join)
    .filter(_valid)
)

INSTANTS = st.one_of(
    st.integers(ms("2020-01-01T00:00"), ms("2030-01-01T00:00")),
    st.tuples(st.sampled_from(AROUND), st.integers(-6 * 3600_000, 6 * 3600_000)).map(sum),
)


def reference_matches(cron: Cron, instant: int, zone: str) -> bool:
    """An independent matcher: the wall time from datetime, the day rule written out."""
    wall = datetime.datetime.fromtimestamp(instant / 1000, ZoneInfo(zone))
    if wall.second or wall.microsecond:
        return False
    in_month = wall.day in cron.days
    in_week = wall.isoweekday() % 7 in cron.weekdays
    day = in_month and in_week if (cron.any_day or cron.any_weekday) else in_month or in_week
    return (
        wall.minute in cron.minutes
        and wall.hour in cron.hours
        and wall.month in cron.months
        and day
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(text=EXPRESSIONS, start=INSTANTS, zone=st.sampled_from(ZONES))
def test_next_after_is_the_first_match_after_the_time(text: str, start: int, zone: str) -> None:
    """next_after(t) > t matches, and no minute between t and it matches (brute force)."""
    cron = Cron.parse(text)
    tick = cron.next_after(start, zone)
    assert tick > start
    assert reference_matches(cron, tick, zone)
    assert cron.matches(tick, zone)
    minute = (start // MINUTE_MS + 1) * MINUTE_MS
    end = min(tick, minute + SCAN_MINUTES * MINUTE_MS)
    for instant in range(minute, end, MINUTE_MS):
        assert not reference_matches(cron, instant, zone), iso(instant, zone)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    text=EXPRESSIONS,
    start=INSTANTS,
    hours=st.integers(0, 48),
    zone=st.sampled_from(ZONES),
)
def test_counting_and_latest_agree_with_a_scan(
    text: str, start: int, hours: int, zone: str
) -> None:
    """count_between and latest_at_or_before agree with a minute-by-minute scan."""
    schedule = Schedule.build(cron=text, tz=zone)
    assert isinstance(schedule.timing, Cron)
    until = start + hours * 3600_000
    first = (start // MINUTE_MS + 1) * MINUTE_MS
    ticks = [
        instant
        for instant in range(first, until + 1, MINUTE_MS)
        if reference_matches(schedule.timing, instant, zone)
    ]
    assert schedule.count_between(start, until) == len(ticks)
    if ticks:
        assert schedule.latest_at_or_before(until) == ticks[-1]
    latest = schedule.latest_at_or_before(until)
    assert latest <= until < schedule.next_after(latest)
