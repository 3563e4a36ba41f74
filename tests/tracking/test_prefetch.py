"""Which pixel fetches are a machine's: HEAD, Apple's privacy proxy, scanners; not Gmail's."""

from __future__ import annotations

import pytest

from agentconnect.tracking.prefetch import is_prefetch

SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@pytest.mark.parametrize(
    ("method", "agent", "ip", "expected"),
    [
        ("GET", SAFARI, "203.0.113.9", False),
        ("GET", GMAIL, "66.249.84.1", False),
        ("HEAD", SAFARI, "203.0.113.9", True),
        ("GET", "Mozilla/5.0", "203.0.113.9", True),
        ("GET", SAFARI, "17.58.100.4", True),
        ("GET", None, "203.0.113.9", True),
        ("GET", "", None, True),
        ("GET", "Mozilla/5.0 (compatible; Barracuda Sentinel)", "198.51.100.1", True),
        ("GET", SAFARI, "not-an-ip", False),
    ],
)
def test_prefetch_rules(method: str, agent: str | None, ip: str | None, expected: bool) -> None:
    assert is_prefetch(method, agent, ip) is expected
