"""Send timing: delays, windows, allowed hours and send-time optimisation, across DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentconnect.delivery.timing import (
    ALL_DAYS,
    DailyHours,
    SendWindow,
    after_delay,
    at_preferred_hour,
    earliest_allowed,
    hour_of_week,
    phone_hours,
    zone,
)
from agentconnect.models.enums import DelayUnit

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # DST moves the clock by 30 minutes
WEEKDAYS = frozenset(range(5))
ALLOWED = DailyHours(time(8), time(21))
OFFICE = SendWindow(time(9), time(17), WEEKDAYS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, *rest: int
) -> datetime:
    """A wall-clock time in `tz`; `rest` is seconds and microseconds."""
    second, microsecond = (*rest, 0, 0)[:2]
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)


def wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


# --- parsing and zones ---------------------------------------------------------------------------


def test_from_json() -> None:
    assert DailyHours.from_json(None) is None
    assert DailyHours.from_json({"start": "08:00", "end": "21:00"}) == ALLOWED
    assert SendWindow.from_json(None) is None
    assert SendWindow.from_json({"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4]}) == (
        OFFICE
    )
    assert SendWindow.from_json({"start": "22:00", "end": "06:00"}) == SendWindow(
        time(22), time(6), ALL_DAYS
    )


@pytest.mark.parametrize(
    "value",
    [
        {"start": "8am", "end": "21:00"},
        {"start": "08:00"},
        {"start": 8, "end": 21},
        {"start": "08:00", "end": "21:00", "days": [7]},
        {"start": "08:00", "end": "21:00", "days": "mon"},
        {"start": "08:00", "end": "21:00", "days": [True]},
    ],
)
def test_from_json_rejects_malformed_values(value: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"clock time|days"):
        SendWindow.from_json(value)


def test_zone_never_raises() -> None:
    assert zone("Europe/Berlin", "America/New_York") == BERLIN
    assert zone(" Europe/Berlin ", None) == BERLIN
    assert zone("Eastern", "America/New_York") == NY
    for bad in (None, "", "America", "../../etc/passwd", "Nowhere/Town", "a\x00b"):
        assert zone(bad, "Europe/Berlin") == BERLIN
        assert zone(bad, bad) == ZoneInfo("UTC")


def test_hour_of_week() -> None:
    assert hour_of_week(local(BERLIN, 2026, 6, 1, 0, 30), BERLIN) == 0  # a Monday
    assert hour_of_week(local(BERLIN, 2026, 6, 2, 1, 0), BERLIN) == 25
    assert hour_of_week(local(BERLIN, 2026, 6, 7, 23, 59), BERLIN) == 167
    # The same instant is Monday 00:30 in Berlin and Sunday 18:30 in New York.
    assert hour_of_week(local(BERLIN, 2026, 6, 1, 0, 30), NY) == 6 * 24 + 18


# --- delays --------------------------------------------------------------------------------------


def test_minutes_and_hours_are_elapsed_time() -> None:
    start = local(NY, 2026, 3, 8, 1, 30)  # EST, half an hour before the clocks jump
    assert after_delay(start, 90, DelayUnit.MINUTES, NY) == utc(2026, 3, 8, 8, 0)
    assert wall(after_delay(start, 1, DelayUnit.HOURS, NY), NY) == datetime(2026, 3, 8, 3, 30)
    assert after_delay(start, 1, DelayUnit.HOURS, NY).tzinfo is UTC


def test_days_keep_the_wall_clock_time() -> None:
    # 23 hours pass in New York on the spring-forward day, 25 in Berlin on the fall-back day.
    ny = after_delay(local(NY, 2026, 3, 7, 9, 0), 1, DelayUnit.DAYS, NY)
    assert ny == utc(2026, 3, 8, 13, 0)
    berlin = after_delay(local(BERLIN, 2026, 10, 24, 9, 0), 1, DelayUnit.DAYS, BERLIN)
    assert berlin == utc(2026, 10, 25, 8, 0)
    weeks = after_delay(local(BERLIN, 2026, 3, 20, 9, 0), 2, DelayUnit.WEEKS, BERLIN)
    assert wall(weeks, BERLIN) == datetime(2026, 4, 3, 9, 0)
    # The start may come in any zone; the calendar is the contact's.
    assert after_delay(utc(2026, 3, 28, 23, 0), 1, DelayUnit.DAYS, BERLIN) == utc(2026, 3, 29, 22)


def test_a_day_into_a_gap_lands_at_the_end_of_the_gap() -> None:
    ny = after_delay(local(NY, 2026, 3, 7, 2, 30), 1, DelayUnit.DAYS, NY)
    assert ny == utc(2026, 3, 8, 7, 0)  # 03:00 EDT
    berlin = after_delay(local(BERLIN, 2026, 3, 28, 2, 15), 1, DelayUnit.DAYS, BERLIN)
    assert wall(berlin, BERLIN) == datetime(2026, 3, 29, 3, 0)
    howe = after_delay(local(LORD_HOWE, 2026, 10, 3, 2, 15), 1, DelayUnit.DAYS, LORD_HOWE)
    assert wall(howe, LORD_HOWE) == datetime(2026, 10, 4, 2, 30)
    assert howe == utc(2026, 10, 3, 15, 30)


def test_a_day_into_a_doubled_hour_takes_its_first_occurrence() -> None:
    ny = after_delay(local(NY, 2026, 10, 31, 1, 30), 1, DelayUnit.DAYS, NY)
    assert ny == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, not 01:30 EST
    berlin = after_delay(local(BERLIN, 2026, 10, 24, 2, 30), 1, DelayUnit.DAYS, BERLIN)
    assert berlin == utc(2026, 10, 25, 0, 30)  # 02:30 CEST


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        after_delay(datetime(2026, 1, 1), 1, DelayUnit.DAYS, NY)
    with pytest.raises(ValueError, match="aware"):
        earliest_allowed(datetime(2026, 1, 1), NY, window=None, quiet=ALLOWED)


# --- windows and allowed hours -------------------------------------------------------------------


def test_allowed_candidate_comes_back_unchanged_in_utc() -> None:
    candidate = local(NY, 2026, 6, 3, 10, 17, 5, 123)
    result = earliest_allowed(candidate, NY, window=OFFICE, quiet=ALLOWED)
    assert result == candidate
    assert result is not None
    assert result.tzinfo is UTC
    assert earliest_allowed(candidate, NY, window=None, quiet=None) == candidate


def test_weekday_window_waits_over_the_weekend() -> None:
    friday_evening = local(BERLIN, 2026, 6, 5, 18, 0)
    monday = earliest_allowed(friday_evening, BERLIN, window=OFFICE, quiet=ALLOWED)
    assert monday == local(BERLIN, 2026, 6, 8, 9, 0)
    # The same weekend in New York crosses the spring-forward night.
    monday = earliest_allowed(local(NY, 2026, 3, 6, 18, 0), NY, window=OFFICE, quiet=ALLOWED)
    assert monday == utc(2026, 3, 9, 13, 0)


def test_allowed_hours_across_midnight() -> None:
    night = DailyHours(time(22), time(6))
    assert earliest_allowed(local(BERLIN, 2026, 6, 3, 12), BERLIN, window=None, quiet=night) == (
        local(BERLIN, 2026, 6, 3, 22)
    )
    at_three = local(BERLIN, 2026, 6, 3, 3)
    assert earliest_allowed(at_three, BERLIN, window=None, quiet=night) == at_three
    # `end` is exclusive.
    assert earliest_allowed(local(BERLIN, 2026, 6, 3, 6), BERLIN, window=None, quiet=night) == (
        local(BERLIN, 2026, 6, 3, 22)
    )


def test_a_window_across_midnight_belongs_to_the_day_it_opens() -> None:
    friday_night = SendWindow(time(22), time(6), frozenset({4}))
    saturday_three = local(BERLIN, 2026, 6, 6, 3)
    assert earliest_allowed(saturday_three, BERLIN, window=friday_night, quiet=None) == (
        saturday_three
    )
    friday_three = local(BERLIN, 2026, 6, 5, 3)
    assert earliest_allowed(friday_three, BERLIN, window=friday_night, quiet=None) == (
        local(BERLIN, 2026, 6, 5, 22)
    )


def test_window_and_hours_that_never_meet() -> None:
    morning = SendWindow(time(9), time(10), ALL_DAYS)
    afternoon = DailyHours(time(12), time(20))
    assert earliest_allowed(utc(2026, 6, 3), NY, window=morning, quiet=afternoon) is None
    nowhere = SendWindow(time(9), time(10), frozenset())
    assert earliest_allowed(utc(2026, 6, 3), NY, window=nowhere, quiet=None) is None


def test_window_and_hours_overlap_partly() -> None:
    window = SendWindow(time(9), time(17), ALL_DAYS)
    hours = DailyHours(time(12), time(20))
    assert earliest_allowed(local(NY, 2026, 6, 3, 7), NY, window=window, quiet=hours) == (
        local(NY, 2026, 6, 3, 12)
    )
    assert earliest_allowed(local(NY, 2026, 6, 3, 17), NY, window=window, quiet=hours) == (
        local(NY, 2026, 6, 4, 12)
    )


def test_a_window_opening_in_the_spring_forward_gap_opens_when_the_gap_ends() -> None:
    window = SendWindow(time(2, 30), time(5), ALL_DAYS)
    assert earliest_allowed(local(NY, 2026, 3, 8, 0), NY, window=window, quiet=None) == (
        utc(2026, 3, 8, 7, 0)  # 03:00 EDT
    )
    berlin = earliest_allowed(local(BERLIN, 2026, 3, 29, 0), BERLIN, window=window, quiet=None)
    assert berlin == utc(2026, 3, 29, 1, 0)  # 03:00 CEST
    early = SendWindow(time(2, 10), time(4), ALL_DAYS)
    howe = earliest_allowed(local(LORD_HOWE, 2026, 10, 4, 0), LORD_HOWE, window=early, quiet=None)
    assert howe is not None
    assert wall(howe, LORD_HOWE) == datetime(2026, 10, 4, 2, 30)
    # A window lying wholly inside the gap does not open that day at all.
    lost = SendWindow(time(2, 0), time(3, 0), frozenset({6}))
    next_sunday = earliest_allowed(local(NY, 2026, 3, 8, 0), NY, window=lost, quiet=None)
    assert next_sunday == local(NY, 2026, 3, 15, 2, 0)


def test_the_doubled_hour_is_searched_twice() -> None:
    # At 01:30 EDT the 01:00-01:15 window has passed, but the clocks go back and show it again.
    window = SendWindow(time(1, 0), time(1, 15), ALL_DAYS)
    result = earliest_allowed(utc(2026, 11, 1, 5, 30), NY, window=window, quiet=None)
    assert result == utc(2026, 11, 1, 6, 0)  # 01:00 EST
    berlin = earliest_allowed(
        local(BERLIN, 2026, 10, 25, 1), BERLIN, window=SendWindow(time(2, 30), time(3)), quiet=None
    )
    assert berlin == utc(2026, 10, 25, 0, 30)  # the first 02:30, still CEST


def test_a_25_hour_day() -> None:
    late = SendWindow(time(23), time(23, 30), ALL_DAYS)
    result = earliest_allowed(local(BERLIN, 2026, 10, 25, 0, 30), BERLIN, window=late, quiet=None)
    assert result == utc(2026, 10, 25, 22, 0)  # 23:00 CET, 23.5 hours of local day later


# --- send-time optimisation ----------------------------------------------------------------------


def test_preferred_hour_inside_the_allowed_hours() -> None:
    monday_early = local(NY, 2026, 6, 1, 6)
    tuesday_two_pm = 24 + 14
    result = at_preferred_hour(monday_early, NY, tuesday_two_pm, window=OFFICE, quiet=ALLOWED)
    assert result == local(NY, 2026, 6, 2, 14)
    inside = local(NY, 2026, 6, 2, 14, 40)
    assert at_preferred_hour(inside, NY, tuesday_two_pm, window=OFFICE, quiet=ALLOWED) == inside


def test_preferred_hour_partly_allowed_starts_when_it_is_allowed() -> None:
    window = SendWindow(time(9, 30), time(17), WEEKDAYS)
    result = at_preferred_hour(local(NY, 2026, 6, 1, 6), NY, 9, window=window, quiet=ALLOWED)
    assert result == local(NY, 2026, 6, 1, 9, 30)


def test_preferred_hour_outside_the_allowed_hours_falls_back_to_the_window_start() -> None:
    monday_three_am = 3
    result = at_preferred_hour(
        local(NY, 2026, 6, 1, 6), NY, monday_three_am, window=OFFICE, quiet=ALLOWED
    )
    assert result == local(NY, 2026, 6, 1, 9)
    # Without a preference the same; mid-window waits for the next opening.
    assert at_preferred_hour(local(NY, 2026, 6, 1, 6), NY, None, window=OFFICE, quiet=ALLOWED) == (
        local(NY, 2026, 6, 1, 9)
    )
    assert at_preferred_hour(
        local(NY, 2026, 6, 5, 11), NY, None, window=OFFICE, quiet=ALLOWED
    ) == local(NY, 2026, 6, 8, 9)
    # The opening is moved into the allowed hours.
    late_hours = DailyHours(time(10), time(20))
    assert at_preferred_hour(
        local(NY, 2026, 6, 1, 6), NY, None, window=OFFICE, quiet=late_hours
    ) == local(NY, 2026, 6, 1, 10)
    # A window that opens in the spring-forward gap opens at its end.
    gap = SendWindow(time(2, 30), time(5), ALL_DAYS)
    assert at_preferred_hour(local(NY, 2026, 3, 8, 0), NY, None, window=gap, quiet=None) == (
        utc(2026, 3, 8, 7, 0)
    )


def test_preferred_hour_without_a_window_uses_the_allowed_hours() -> None:
    result = at_preferred_hour(local(NY, 2026, 6, 1, 6), NY, None, window=None, quiet=ALLOWED)
    assert result == local(NY, 2026, 6, 1, 8)
    result = at_preferred_hour(local(NY, 2026, 6, 1, 6), NY, 2, window=None, quiet=ALLOWED)
    assert result == local(NY, 2026, 6, 1, 8)
    never = SendWindow(time(9), time(10), ALL_DAYS)
    assert (
        at_preferred_hour(
            utc(2026, 6, 1), NY, 9, window=never, quiet=DailyHours(time(12), time(20))
        )
        is None
    )


def test_preferred_hour_across_dst() -> None:
    sunday_two_am = 6 * 24 + 2
    # 02:00 does not exist in New York on 2026-03-08: the next Sunday's.
    result = at_preferred_hour(
        local(NY, 2026, 3, 7, 12), NY, sunday_two_am, window=None, quiet=None
    )
    assert result == local(NY, 2026, 3, 15, 2)
    # On Lord Howe Island the clocks jump from 02:00 to 02:30: the hour starts at 02:30.
    result = at_preferred_hour(
        local(LORD_HOWE, 2026, 10, 3, 12), LORD_HOWE, sunday_two_am, window=None, quiet=None
    )
    assert result == utc(2026, 10, 3, 15, 30)
    # The hour shown twice in the fall is taken the first time.
    sunday_one_am = 6 * 24 + 1
    result = at_preferred_hour(
        local(NY, 2026, 10, 31, 12), NY, sunday_one_am, window=None, quiet=None
    )
    assert result == utc(2026, 11, 1, 5, 0)


def test_preferred_hour_out_of_range() -> None:
    with pytest.raises(ValueError, match="hour of week"):
        at_preferred_hour(utc(2026, 6, 1), NY, 168, window=None, quiet=None)


# --- properties ----------------------------------------------------------------------------------

# Real zones, with their 2026 offset changes so that DST nights are drawn often, not by luck.
TRANSITIONS: dict[str, list[datetime]] = {
    "UTC": [],
    "Asia/Kolkata": [],
    "Asia/Kathmandu": [],  # +05:45
    "America/Sao_Paulo": [],  # no DST since 2019
    "America/New_York": [utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)],
    "America/St_Johns": [utc(2026, 3, 8, 5, 30), utc(2026, 11, 1, 4, 30)],
    "Europe/Berlin": [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)],
    "Europe/London": [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)],
    "Africa/Casablanca": [utc(2026, 2, 15, 2), utc(2026, 3, 22, 2)],  # Ramadan, 5 weeks apart
    "Australia/Sydney": [utc(2026, 4, 4, 16), utc(2026, 10, 3, 16)],
    "Australia/Lord_Howe": [utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30)],
    "Pacific/Chatham": [utc(2026, 4, 4, 14), utc(2026, 9, 26, 14)],
}
ZONE_NAMES = sorted(TRANSITIONS)


def test_the_listed_transitions_are_real() -> None:
    for name, changes in TRANSITIONS.items():
        tz = ZoneInfo(name)
        for change in changes:
            before = (change - timedelta(seconds=1)).astimezone(tz).utcoffset()
            assert before != change.astimezone(tz).utcoffset(), (name, change)


any_instant = st.datetimes(datetime(2020, 1, 1), datetime(2035, 12, 31), timezones=st.just(UTC))


@st.composite
def zoned_instants(
    draw: st.DrawFn, spread: timedelta = timedelta(days=4)
) -> tuple[ZoneInfo, datetime]:
    """A zone and an instant: anywhere in 2020-2035, or within `spread` of its DST change."""
    name = draw(st.sampled_from(ZONE_NAMES))
    near_change: bool = bool(TRANSITIONS[name]) and draw(st.booleans())
    if near_change:
        change = draw(st.sampled_from(TRANSITIONS[name]))
        minutes = int(spread.total_seconds() // 60)
        moment = change + timedelta(minutes=draw(st.integers(-minutes, minutes)))
    else:
        moment = draw(any_instant)
    return ZoneInfo(name), moment


clock_times = st.builds(
    time, st.integers(0, 23), st.one_of(st.sampled_from([0, 30]), st.integers(0, 59))
)
windows = st.none() | st.builds(
    SendWindow, clock_times, clock_times, st.frozensets(st.integers(0, 6), min_size=1)
)
hours = st.none() | st.builds(DailyHours, clock_times, clock_times)


def inside(start: time, end: time, days: frozenset[int], moment: datetime) -> bool:
    """The rules restated the plain way, as an oracle: find the day the span opened on."""
    clock = moment.time()
    if start < end:
        opened = moment.date() if start <= clock < end else None
    elif clock >= start:
        opened = moment.date()
    elif clock < end:
        opened = moment.date() - timedelta(days=1)
    else:
        opened = None
    return opened is not None and opened.weekday() in days


def allowed(
    moment: datetime, tz: ZoneInfo, window: SendWindow | None, quiet: DailyHours | None
) -> bool:
    seen = moment.astimezone(tz)
    return (window is None or inside(window.start, window.end, window.days, seen)) and (
        quiet is None or inside(quiet.start, quiet.end, ALL_DAYS, seen)
    )


def assert_nothing_allowed_between(
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    window: SendWindow | None,
    quiet: DailyHours | None,
) -> None:
    # Every rule changes on a whole minute, and every offset change of these zones too, so an
    # allowed instant in (start, end) would show at a whole minute in it.
    minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < end:
        assert not allowed(minute, tz, window, quiet), minute
        minute += timedelta(minutes=1)


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(zoned_instants(), windows, hours)
def test_earliest_allowed_is_the_first_allowed_instant(
    zoned: tuple[ZoneInfo, datetime], window: SendWindow | None, quiet: DailyHours | None
) -> None:
    tz, candidate = zoned
    result = earliest_allowed(candidate, tz, window=window, quiet=quiet)
    if result is None:
        # Only when the rules never meet: no allowed minute in the coming week.
        assert_nothing_allowed_between(candidate, candidate + timedelta(days=7), tz, window, quiet)
        assert not allowed(candidate, tz, window, quiet)
        return
    assert result.tzinfo is UTC
    assert result >= candidate
    assert allowed(result, tz, window, quiet)
    assert result - candidate < timedelta(days=8)
    assert_nothing_allowed_between(candidate, result, tz, window, quiet)


@PROPERTY
@given(
    zoned_instants(spread=timedelta(hours=2)),
    st.integers(0, 60),
    st.sampled_from([DelayUnit.DAYS, DelayUnit.WEEKS]),
)
def test_calendar_delays_keep_the_wall_time(
    zoned: tuple[ZoneInfo, datetime], value: int, unit: DelayUnit
) -> None:
    # Drawn as the target time, near a DST change when lucky, then moved back by the delay.
    tz, target_at = zoned
    days = value * (7 if unit is DelayUnit.WEEKS else 1)
    start = target_at - timedelta(days=days)
    result = after_delay(start, value, unit, tz)
    assert result.tzinfo is UTC
    target = wall(start, tz) + timedelta(days=days)
    shown = wall(result, tz)
    if wall(target.replace(tzinfo=tz).astimezone(UTC), tz) == target:  # the time exists
        assert shown == target
        # ... and no earlier instant shows it (the first of a doubled hour).
        assert wall(result - timedelta(hours=1), tz) != target
        assert wall(result - timedelta(minutes=30), tz) != target
    else:  # a gap: the first instant after it
        assert shown > target
        assert wall(result - timedelta(seconds=1), tz) < target


@PROPERTY
@given(zoned_instants(), st.none() | st.integers(0, 167), windows, hours)
def test_preferred_hour_is_allowed_and_not_early(
    zoned: tuple[ZoneInfo, datetime],
    preferred: int | None,
    window: SendWindow | None,
    quiet: DailyHours | None,
) -> None:
    tz, earliest = zoned
    result = at_preferred_hour(earliest, tz, preferred, window=window, quiet=quiet)
    first = earliest_allowed(earliest, tz, window=window, quiet=quiet)
    assert (result is None) == (first is None)
    if result is None or first is None:
        return
    assert result >= first >= earliest
    assert result - earliest < timedelta(days=9)
    assert allowed(result, tz, window, quiet)
    if preferred is not None and hour_of_week(result, tz) == preferred and result != first:
        # Inside the preferred hour: its first allowed minute, not a later one.
        assert not allowed(result - timedelta(minutes=1), tz, window, quiet) or (
            hour_of_week(result - timedelta(minutes=1), tz) != preferred
        )


def test_phone_hours_are_never_wider_than_the_law_allows() -> None:
    """Hours stored before the API refused wider ones are narrowed where they are used."""
    assert phone_hours(None) == DailyHours(time(8), time(21))
    assert phone_hours({"start": "09:30"}) == DailyHours(time(9, 30), time(21))
    assert phone_hours({"start": "06:00", "end": "23:00"}) == DailyHours(time(8), time(21))
    # a window crossing midnight would allow the small hours: the legal hours instead
    assert phone_hours({"start": "22:00", "end": "06:00"}) == DailyHours(time(8), time(21))
