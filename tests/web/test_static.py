"""The vendored static files are served from the package, with the dashboard's headers."""

from __future__ import annotations

from importlib import resources

import httpx


def test_vendored_files_and_their_licenses_are_package_data() -> None:
    static = resources.files("agentconnect.web") / "static"
    for name in ("htmx.min.js", "htmx.LICENSE", "chart.umd.min.js", "chart.js.LICENSE.md"):
        assert (static / "vendor" / name).is_file(), name
    assert (resources.files("agentconnect.web") / "templates" / "base.html").is_file()


async def test_static_files_are_served_with_a_strict_content_security_policy(app) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        script = await client.get("/app/static/vendor/htmx.min.js")
        assert script.status_code == 200
        assert "htmx" in script.text[:2000]
        page = await client.get("/app/login")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-eval" not in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert (await client.get("/app/static/nope.js")).status_code == 404
