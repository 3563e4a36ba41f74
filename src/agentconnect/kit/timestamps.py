"""Times that outside systems report for their events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
# Clocks of other systems run a little ahead; a day is generous, a year would be a typo.
FUTURE_SLACK = timedelta(days=1)


def plausible_event_time(value: datetime) -> datetime:
    """An event time between 2000 and tomorrow. Anything else is a mistake, and a year past
    9999 in UTC would even be stored by PostgreSQL and then be unreadable for every query
    that touches the row."""
    try:
        moment = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is past the year 9999 in UTC") from None
    if moment < EARLIEST_EVENT:
        raise ValueError("must not be before 2000-01-01")
    if moment > datetime.now(UTC) + FUTURE_SLACK:
        raise ValueError("must not be more than a day in the future")
    return value


EventTime = Annotated[AwareDatetime, AfterValidator(plausible_event_time)]
