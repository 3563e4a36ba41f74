"""When a campaign step may be sent: delays, send windows, allowed hours and send-time
optimisation, all in the contact's local time.

Rules are stated in wall-clock time and answered with instants. The mapping between the two is
where the traps are: a spring-forward gap holds wall times no instant shows, so a window that
opens inside the gap opens when the gap ends; a fall-back hour is shown twice, and the earlier
instant wins. Instead of stepping minute by minute, a search works on two short lists: the
allowed wall-clock spans of the coming days, and the UTC segments during which one UTC offset
holds. Inside a segment local time is UTC plus a constant, so the first allowed instant is plain
arithmetic. Both lists are cached per day, because a batch run asks about the same few zones and
windows for every contact; the common case (already allowed) needs neither.

Pure functions, no database. Every instant returned is an aware datetime in UTC.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from agentconnect.models.enums import DelayUnit, MessageType

ALL_DAYS = frozenset(range(7))
HOURS_PER_WEEK = 7 * 24

_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_MIDNIGHT = time(0)
_UTC_ZONE = ZoneInfo("UTC")
# A search starting on UTC day D sees offsets over [D-1, D+10) and wall clock over [D-3, D+12):
# a week plus DST slack ahead, and enough behind for a window opened the evening before.
_SEGMENT_DAYS = 11
_WALL_DAYS = 15

# Hours of the day on some weekdays, the shape shared by windows, allowed hours and the
# preferred hour: (start, end, days). start >= end crosses midnight; start == end is 24 hours.
_Rule = tuple[time, time, frozenset[int]]
_Span = tuple[datetime, datetime]  # [start, end), naive: wall clock or UTC
_Segment = tuple[datetime, datetime, timedelta]  # naive UTC [start, end) and the offset in force


# Channels that ring or buzz a phone: the company's quiet hours (08:00-21:00 in the contact's
# time zone unless narrowed) protect them; nobody is woken by an email.
QUIET_CHANNELS = frozenset({MessageType.SMS, MessageType.WHATSAPP, MessageType.VOICE})


def _parse_clock(value: Any, field: str) -> time:
    if isinstance(value, str):
        try:
            parsed = time.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed
    raise ValueError(f"{field} must be a clock time like '08:00', got {value!r}")


def _holds(rule: _Rule, local: datetime) -> bool:
    start, end, days = rule
    clock = local.time()
    weekday = local.weekday()
    if start < end:
        return weekday in days and start <= clock < end
    # Past midnight the hours still belong to the day they opened on (Friday 22:00-06:00 covers
    # Saturday 03:00, not Friday 03:00).
    return (clock >= start and weekday in days) or (clock < end and (weekday - 1) % 7 in days)


@dataclass(frozen=True)
class DailyHours:
    """Hours of the day in which sending is allowed, local time. start < end: same day
    (08:00-21:00); start > end: crosses midnight (22:00-06:00); start == end: all day. `end` is
    exclusive."""

    start: time
    end: time

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> DailyHours | None:
        """`{"start": "08:00", "end": "21:00"}`; None means no restriction. Raises ValueError."""
        if value is None:
            return None
        return cls(_parse_clock(value.get("start"), "start"), _parse_clock(value.get("end"), "end"))

    @property
    def rule(self) -> _Rule:
        return (self.start, self.end, ALL_DAYS)

    def contains(self, local: datetime) -> bool:
        """Whether a local (wall-clock) datetime lies inside these hours."""
        return _holds(self.rule, local)


@dataclass(frozen=True)
class SendWindow:
    """A step's window: hours (like DailyHours) on given weekdays (0 = Monday ... 6 = Sunday).
    Hours that cross midnight belong to the weekday on which they start."""

    start: time
    end: time
    days: frozenset[int] = ALL_DAYS

    def __post_init__(self) -> None:
        if not self.days <= ALL_DAYS:
            raise ValueError("send window days are 0 (Monday) to 6 (Sunday)")

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> SendWindow | None:
        """`{"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4]}`; days missing = all 7.
        Raises ValueError on a malformed value."""
        if value is None:
            return None
        days = value.get("days")
        if days is None:
            day_set = ALL_DAYS
        elif isinstance(days, list | tuple) and all(
            isinstance(day, int) and not isinstance(day, bool) for day in days
        ):
            day_set = frozenset(days)
        else:
            raise ValueError(f"send window days must be a list of weekday numbers, got {days!r}")
        return cls(
            _parse_clock(value.get("start"), "start"),
            _parse_clock(value.get("end"), "end"),
            day_set,
        )

    @property
    def rule(self) -> _Rule:
        return (self.start, self.end, self.days)

    def contains(self, local: datetime) -> bool:
        """Whether a local (wall-clock) datetime lies inside the window."""
        return _holds(self.rule, local)


# --- public functions ----------------------------------------------------------------------------


# The widest hours the law allows phone contact in (the US TCPA: 08:00-21:00 local time).
LEGAL_PHONE_HOURS = {"start": "08:00", "end": "21:00"}


def phone_hours(stored: Mapping[str, Any] | None) -> DailyHours:
    """A company's hours for SMS, WhatsApp and calls, never wider than the law allows: the
    API refuses wider ones, and this also narrows any stored before it did."""
    merged = {**LEGAL_PHONE_HOURS, **(stored or {})}
    start = max(str(merged["start"]), LEGAL_PHONE_HOURS["start"])
    end = min(str(merged["end"]), LEGAL_PHONE_HOURS["end"])
    if start >= end:
        start, end = LEGAL_PHONE_HOURS["start"], LEGAL_PHONE_HOURS["end"]
    hours = DailyHours.from_json({"start": start, "end": end})
    assert hours is not None  # built from a value
    return hours


def zone(name: str | None, fallback: str | None) -> ZoneInfo:
    """The contact's zone, else the fallback (company or campaign zone), else UTC. Never raises:
    old imports left zone strings like "EST5" or "Eastern" behind."""
    for key in (name, fallback):
        if isinstance(key, str) and key.strip():
            found = _lookup_zone(key.strip())
            if found is not None:
                return found
    return _UTC_ZONE


def hour_of_week(moment: datetime, tz: ZoneInfo) -> int:
    """The local hour of the week of an instant: Monday 00:00-00:59 is 0, Sunday 23:00 is 167."""
    local = moment.astimezone(tz)
    return local.weekday() * 24 + local.hour


def after_delay(start: datetime, value: int, unit: DelayUnit, tz: ZoneInfo) -> datetime:
    """`start` plus a step's delay. Minutes and hours are elapsed time; days and weeks are
    calendar days in `tz`, keeping the wall-clock time (a missing time moves to the end of its
    spring-forward gap; a doubled one takes its first occurrence)."""
    _require_aware(start)
    if unit == DelayUnit.MINUTES:
        # Added in UTC: an aware datetime plus a timedelta moves its wall clock, not the instant.
        return start.astimezone(UTC) + timedelta(minutes=value)
    if unit == DelayUnit.HOURS:
        return start.astimezone(UTC) + timedelta(hours=value)
    if unit == DelayUnit.DAYS:
        days = value
    elif unit == DelayUnit.WEEKS:
        days = 7 * value
    else:
        raise ValueError(f"unknown delay unit {unit!r}")
    # Adding to an aware datetime moves its wall clock, which is what a calendar day means here;
    # the sum has fold=0, so a doubled time reads as its first occurrence.
    return _resolve(start.astimezone(tz) + timedelta(days=days), tz)


def earliest_allowed(
    candidate: datetime, tz: ZoneInfo, *, window: SendWindow | None, quiet: DailyHours | None
) -> datetime | None:
    """The earliest instant >= candidate inside both the window and the allowed hours, in local
    time; None when no such instant exists within about nine days (the two never meet)."""
    _require_aware(candidate)
    local = candidate.astimezone(tz)
    if (window is None or window.contains(local)) and (quiet is None or quiet.contains(local)):
        return local.astimezone(UTC)
    return _search(candidate, tz, _rules(window, quiet))


def at_preferred_hour(
    earliest: datetime,
    tz: ZoneInfo,
    preferred_hour_of_week: int | None,
    *,
    window: SendWindow | None,
    quiet: DailyHours | None,
) -> datetime | None:
    """Send-time optimisation: the first allowed instant >= earliest inside the contact's most
    engaged local hour of the week (its start when that is allowed, `earliest` when already
    inside it). Failing that, the first opening of the window >= earliest, or with no window the
    earliest allowed instant. None only when nothing is ever allowed."""
    _require_aware(earliest)
    if preferred_hour_of_week is not None:
        if not 0 <= preferred_hour_of_week < HOURS_PER_WEEK:
            raise ValueError(f"hour of week out of range: {preferred_hour_of_week}")
        local = earliest.astimezone(tz)
        if (
            local.weekday() * 24 + local.hour == preferred_hour_of_week
            and (window is None or window.contains(local))
            and (quiet is None or quiet.contains(local))
        ):
            return local.astimezone(UTC)
        found = _search(earliest, tz, (*_rules(window, quiet), _hour_rule(preferred_hour_of_week)))
        if found is not None:
            return found
    if window is None:
        return earliest_allowed(earliest, tz, window=None, quiet=quiet)
    start = earliest.astimezone(UTC).replace(tzinfo=None)
    openings = _openings(tz, window.rule, quiet.rule if quiet else None, start.date())
    index = bisect_left(openings, start)
    return openings[index].replace(tzinfo=UTC) if index < len(openings) else None


# --- the search ----------------------------------------------------------------------------------


def _require_aware(moment: datetime) -> None:
    # A naive datetime would silently be read as the server's local time.
    if moment.tzinfo is None:
        raise ValueError("timing needs aware datetimes")


def _rules(window: SendWindow | None, quiet: DailyHours | None) -> tuple[_Rule, ...]:
    return tuple(rule.rule for rule in (window, quiet) if rule is not None)


def _hour_rule(hour_of_week_: int) -> _Rule:
    day, hour = divmod(hour_of_week_, 24)
    return (time(hour), time((hour + 1) % 24), frozenset({day}))


def _search(start: datetime, tz: ZoneInfo, rules: tuple[_Rule, ...]) -> datetime | None:
    utc = start.astimezone(UTC).replace(tzinfo=None)
    day = utc.date()
    found = _first_in(_wall_spans(rules, day), _segments(tz, day), utc)
    return None if found is None else found.replace(tzinfo=UTC)


def _first_in(
    spans: tuple[_Span, ...] | list[_Span], segments: tuple[_Segment, ...], start: datetime
) -> datetime | None:
    """The first instant >= start (naive UTC) whose wall clock lies in one of `spans`."""
    for segment_start, segment_end, offset in segments:
        if segment_end <= start:
            continue
        low = max(segment_start, start)
        for wall_start, wall_end in spans:
            opens = wall_start - offset
            if opens >= segment_end:
                break
            begin = max(opens, low)
            if begin < min(wall_end - offset, segment_end):
                return begin
    return None


def _rule_spans(rule: _Rule, first: datetime) -> list[_Span]:
    start, end, days = rule
    spans: list[_Span] = []
    for n in range(_WALL_DAYS):
        day = (first + n * _DAY).date()
        if day.weekday() in days:
            closes_on = day if start < end else day + _DAY
            spans.append((datetime.combine(day, start), datetime.combine(closes_on, end)))
    return spans


def _intersect(xs: list[_Span], ys: list[_Span]) -> list[_Span]:
    """Both sorted and non-overlapping; so is the result."""
    out: list[_Span] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        low = max(xs[i][0], ys[j][0])
        high = min(xs[i][1], ys[j][1])
        if low < high:
            out.append((low, high))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def _wall_start(day: date) -> datetime:
    return datetime.combine(day - 3 * _DAY, _MIDNIGHT)


@lru_cache(maxsize=4096)
def _wall_spans(rules: tuple[_Rule, ...], day: date) -> tuple[_Span, ...]:
    """Wall-clock spans in which every rule holds, for a search starting on UTC day `day`."""
    first = _wall_start(day)
    spans: list[_Span] = [(first, first + _WALL_DAYS * _DAY)]
    for rule in rules:
        spans = _intersect(spans, _rule_spans(rule, first))
    return tuple(spans)


@lru_cache(maxsize=4096)
def _openings(tz: ZoneInfo, window: _Rule, quiet: _Rule | None, day: date) -> tuple[datetime, ...]:
    """The first allowed instant (naive UTC) of each occurrence of the window, ascending."""
    first = _wall_start(day)
    quiet_spans = _rule_spans(quiet, first) if quiet else [(first, first + _WALL_DAYS * _DAY)]
    segments = _segments(tz, day)
    openings: list[datetime] = []
    for occurrence in _rule_spans(window, first):
        opening = _first_in(_intersect([occurrence], quiet_spans), segments, segments[0][0])
        if opening is not None:
            openings.append(opening)
    return tuple(sorted(openings))


@lru_cache(maxsize=4096)
def _segments(tz: ZoneInfo, day: date) -> tuple[_Segment, ...]:
    """Stretches of UTC time with one offset, covering [day - 1, day + 10). Offsets are probed
    once a day, which misses only a change undone within the same day (no zone does that)."""
    probe = datetime.combine(day - _DAY, _MIDNIGHT)
    offset = _offset(tz, probe)
    segment_start = probe
    segments: list[_Segment] = []
    for _ in range(_SEGMENT_DAYS):
        following = probe + _DAY
        if _offset(tz, following) != offset:
            change = _next_change(tz, probe, following, offset)
            segments.append((segment_start, change, offset))
            segment_start, offset = change, _offset(tz, change)
        probe = following
    segments.append((segment_start, probe, offset))
    return tuple(segments)


def _offset(tz: ZoneInfo, utc: datetime) -> timedelta:
    offset = tz.fromutc(utc.replace(tzinfo=tz)).utcoffset()
    assert offset is not None
    return offset


def _next_change(tz: ZoneInfo, low: datetime, high: datetime, before: timedelta) -> datetime:
    """The first whole second in (low, high] with an offset other than `before`: a bisection,
    since zoneinfo does not publish its transitions. Transitions fall on whole seconds."""
    low = low.replace(microsecond=0)
    lo, hi = 0, int((high - low).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(tz, low + mid * _SECOND) == before:
            lo = mid
        else:
            hi = mid
    return low + hi * _SECOND


def _resolve(target: datetime, tz: ZoneInfo) -> datetime:
    """The first instant showing the wall-clock time of `target` (aware, in `tz`, fold=0), or the
    end of the spring-forward gap it falls in."""
    instant = target.astimezone(UTC)
    before = target.utcoffset()  # fold=0: the offset before a change
    after = instant.astimezone(tz).utcoffset()
    assert before is not None
    assert after is not None
    if before == after:
        return instant
    # A gap: `instant` lies past the change by as much as the clocks jumped.
    end = instant.replace(tzinfo=None)
    return _next_change(tz, end - (after - before), end, before).replace(tzinfo=UTC)


@lru_cache(maxsize=1024)
def _lookup_zone(key: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(key)
    except (KeyError, ValueError, OSError):  # unknown key, malformed key or file, a directory
        return None
