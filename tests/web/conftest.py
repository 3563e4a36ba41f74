"""Dashboard test helpers: clients signed in through the login form, as a browser is."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tests.fixtures.world import PASSWORD, World

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

SignIn = Callable[[str], Awaitable[httpx.AsyncClient]]


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(app, email: str, password: str = PASSWORD) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    form = await client.get("/app/login")
    assert form.status_code == 200, form.text
    response = await client.post(
        "/app/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
    )
    assert response.status_code == 303, response.text
    client.headers["X-CSRF-Token"] = await page_csrf(client)
    return client


async def page_csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/app/pipeline")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


@pytest.fixture
async def signed_in(app, world: World) -> AsyncIterator[SignIn]:  # type: ignore[no-untyped-def]
    """`await signed_in("manager@company-a.example")`: a client with a dashboard session."""
    clients: list[httpx.AsyncClient] = []

    async def make(email: str) -> httpx.AsyncClient:
        client = await sign_in(app, email)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
