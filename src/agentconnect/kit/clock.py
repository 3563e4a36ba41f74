"""Time for the background loops: the wall clock, or one a test controls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


def stopwatch() -> Callable[[], timedelta]:
    """Time since the first call (which answers zero), added to a pass's `now` (real or
    simulated): the first batch runs at `now` exactly, later ones as much later as they are,
    so a lease or a backoff taken by a late batch counts from when that batch really ran."""
    loop = asyncio.get_running_loop()
    started: list[float] = []

    def elapsed() -> timedelta:
        if not started:
            started.append(loop.time())
            return timedelta(0)
        return timedelta(seconds=loop.time() - started[0])

    return elapsed
