"""Which addresses outbound webhooks may reach, and the resolver that enforces it per
connection."""

from __future__ import annotations

import pytest

from agentconnect.webhooks import ssrf


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("10.20.30.40", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),  # noqa: S104 - an address to refuse, not a bind
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("::ffff:10.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
    ],
)
def test_blocked_addresses(address: str, refused: bool) -> None:
    assert ssrf.blocked(address) is refused


async def test_the_resolver_refuses_a_name_that_resolves_to_loopback() -> None:
    resolver = ssrf.GuardedResolver(allow_private=False)
    try:
        with pytest.raises(ssrf.UnsafeTarget, match=r"127\.0\.0\.1"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


async def test_the_setting_lets_the_resolver_reach_loopback() -> None:
    resolver = ssrf.GuardedResolver(allow_private=True)
    try:
        results = await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
    assert any(r["host"] == "127.0.0.1" for r in results)


async def test_check_url_refuses_unresolvable_hosts() -> None:
    with pytest.raises(ssrf.UnsafeTarget, match="cannot be resolved"):
        await ssrf.check_url("https://no-such-host.invalid/x", allow_private=False)
