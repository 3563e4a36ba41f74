"""The sender's pieces that need no database."""

from __future__ import annotations

import asyncio

from agentconnect.delivery.sender import RateLimiter


async def test_the_rate_limiter_spaces_acquisitions_at_its_rate() -> None:
    limiter = RateLimiter(rate=50.0)  # one every 20 ms
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(limiter.acquire() for _ in range(6)))
    elapsed = loop.time() - started
    # The first goes at once, the other five wait their turn: at least 5 x 20 ms.
    assert elapsed >= 0.099
    assert elapsed < 1.0
