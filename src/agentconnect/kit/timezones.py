"""IANA time-zone names."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def validate_timezone(value: str) -> str:
    if value not in known_timezones():
        raise ValueError(f"'{value}' is not an IANA time zone name (e.g. 'Europe/Berlin')")
    return value
