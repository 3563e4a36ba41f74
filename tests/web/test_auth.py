"""Signing in and out, the session cookie, CSRF, and pages that need a session."""

from __future__ import annotations

import httpx

from tests.fixtures.world import World
from tests.web.conftest import SignIn, csrf_of, sign_in


def _client(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_pages_redirect_to_login_without_a_session(app, world: World) -> None:  # type: ignore[no-untyped-def]
    async with _client(app) as client:
        for path in ("/app/", "/app/pipeline", "/app/contacts", "/app/campaigns", "/app/outbox"):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/app/login?next=")
        assert (await client.get("/app")).headers["location"] == "/app/"


async def test_login_sets_a_signed_httponly_lax_cookie_and_opens_the_dashboard(
    app,  # type: ignore[no-untyped-def]
    world: World,
) -> None:
    async with _client(app) as client:
        form = await client.get("/app/login?next=/app/contacts")
        assert "Sign in" in form.text
        cookie = form.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "path=/app" in cookie
        assert "secure" not in cookie  # plain http here; https gets Secure (next test)
        response = await client.post(
            "/app/login",
            data={
                "email": "Manager@Company-A.example",
                "password": "correct horse battery",
                "csrf_token": csrf_of(form.text),
                "next": "/app/contacts",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/app/contacts"
        page = await client.get("/app/pipeline")
        assert page.status_code == 200
        assert "Manager of Company A" in page.text


async def test_cookie_is_secure_over_https(app, world: World) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://test"
    ) as client:
        form = await client.get("/app/login")
        assert "secure" in form.headers["set-cookie"].lower()


async def test_wrong_password_is_refused_with_the_form_again(app, world: World) -> None:  # type: ignore[no-untyped-def]
    async with _client(app) as client:
        form = await client.get("/app/login")
        response = await client.post(
            "/app/login",
            data={
                "email": "admin@company-a.example",
                "password": "nope",
                "csrf_token": csrf_of(form.text),
            },
        )
        assert response.status_code == 401
        assert "Wrong e-mail or password" in response.text
        assert (await client.get("/app/pipeline")).status_code == 303


async def test_login_without_the_csrf_token_is_refused(app, world: World) -> None:  # type: ignore[no-untyped-def]
    async with _client(app) as client:
        await client.get("/app/login")
        response = await client.post(
            "/app/login",
            data={"email": "admin@company-a.example", "password": "correct horse battery"},
        )
        assert response.status_code == 403
        assert "reload the page" in response.text
        assert (await client.get("/app/pipeline")).status_code == 303


async def test_posts_without_the_session_csrf_token_are_refused(
    app,  # type: ignore[no-untyped-def]
    world: World,
    signed_in: SignIn,
) -> None:
    client = await signed_in("manager@company-a.example")
    token = client.headers.pop("X-CSRF-Token")
    # no token, a wrong token, another session's token: all refused, nothing logged out
    assert (await client.post("/app/logout")).status_code == 403
    assert (await client.post("/app/logout", data={"csrf_token": "x" * 43})).status_code == 403
    other = await signed_in("agent@company-a.example")
    other_token = other.headers["X-CSRF-Token"]
    assert (
        await client.post("/app/logout", headers={"X-CSRF-Token": other_token})
    ).status_code == 403
    assert (await client.get("/app/pipeline")).status_code == 200
    # the right one in the form field works
    response = await client.post("/app/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?notice=signed-out"
    assert (await client.get("/app/pipeline")).status_code == 303


async def test_a_forged_cookie_is_no_session(app, world: World) -> None:  # type: ignore[no-untyped-def]
    async with _client(app) as client:
        client.cookies.set("ac_session", "eyJjIjoieCJ9.forged.signature", path="/app")
        assert (await client.get("/app/pipeline")).status_code == 303


async def test_a_password_change_ends_the_session(app, world: World) -> None:  # type: ignore[no-untyped-def]
    client = await sign_in(app, "agent@company-a.example")
    try:
        agent_id = world.a.actors[next(r for r in world.a.actors if r.value == "agent")].user.id
        changed = await world.a.admin.patch(
            f"/api/v1/users/{agent_id}", json={"password": "a brand new password"}
        )
        assert changed.status_code == 200, changed.text
        assert (await client.get("/app/pipeline")).status_code == 303
    finally:
        await client.aclose()


async def test_next_never_leaves_the_dashboard(app, world: World) -> None:  # type: ignore[no-untyped-def]
    async with _client(app) as client:
        form = await client.get("/app/login")
        response = await client.post(
            "/app/login",
            data={
                "email": "admin@company-a.example",
                "password": "correct horse battery",
                "csrf_token": csrf_of(form.text),
                "next": "//evil.example/app/x",
            },
        )
        assert response.headers["location"] == "/app/"


async def test_unknown_dashboard_path_is_an_html_404(app, world: World, signed_in: SignIn) -> None:  # type: ignore[no-untyped-def]
    client = await signed_in("admin@company-a.example")
    response = await client.get("/app/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "nothing at this address" in response.text


async def test_scripts_without_a_session_are_told_to_sign_in(app, world: World) -> None:  # type: ignore[no-untyped-def]
    async with _client(app) as client:
        partial = await client.get("/app/pipeline", headers={"HX-Request": "true"})
        assert partial.status_code == 200
        assert partial.headers["hx-redirect"] == "/app/login"
        fetched = await client.get("/app/pipeline", headers={"Accept": "application/json"})
        assert fetched.status_code == 401
        assert fetched.json()["detail"] == "sign in again"
