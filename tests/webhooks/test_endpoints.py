"""The webhook endpoint API: secrets shown once, validation, SSRF refusals, roles, tenancy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agentconnect.app import create_app
from agentconnect.config import Settings
from agentconnect.db import Database
from agentconnect.models import Role
from tests.fixtures.world import World
from tests.webhooks.conftest import ENDPOINTS, Receiver, new_endpoint


async def test_crud_shows_the_secret_only_on_create_and_rotate(
    world: World, receiver: Receiver
) -> None:
    created = await new_endpoint(world.a.admin, receiver.url, ["lead.created", "deal.won"])
    assert created["secret"].startswith("whsec_")
    path = f"{ENDPOINTS}/{created['id']}"

    shown = (await world.a.admin.get(path)).json()
    assert "secret" not in shown
    assert shown["event_types"] == ["lead.created", "deal.won"]
    listed = (await world.a.admin.get(ENDPOINTS)).json()
    assert listed["total"] == 1
    assert "secret" not in listed["items"][0]

    patched = await world.a.admin.patch(
        path, json={"event_types": ["message.replied"], "description": "Slack bridge"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["message.replied"]

    rotated = await world.a.admin.post(f"{path}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["previous_secret_expires_at"] is not None

    assert (await world.a.admin.delete(path)).status_code == 204
    assert (await world.a.admin.get(path)).status_code == 404


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"url": "ftp://example.com/x", "event_types": ["lead.created"]}, "url"),
        ({"url": "not a url", "event_types": ["lead.created"]}, "url"),
        ({"url": "https://user:pw@example.com/", "event_types": ["lead.created"]}, "url"),
        ({"url": "https://example.com:99999/", "event_types": ["lead.created"]}, "url"),
        ({"url": "https://example.com/", "event_types": ["lead.exploded"]}, "event_types"),
        ({"url": "https://example.com/", "event_types": []}, "event_types"),
        ({"url": "https://example.com/"}, "event_types"),
        ({"url": "https://example.com/", "event_types": ["lead.created"], "x": 1}, "x"),
    ],
)
async def test_bad_input_is_422(world: World, body: dict[str, Any], where: str) -> None:
    response = await world.a.admin.post(ENDPOINTS, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(where in error["loc"] for error in response.json()["errors"])


@pytest.fixture
async def strict_admin(world: World, settings: Settings, database: Database) -> Any:
    """Company A's admin against an app with the default settings (private targets refused)."""
    assert settings.webhooks_allow_private_targets is False
    app = create_app(settings, database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {world.a.actors[Role.ADMIN].api_key}"},
    ) as client:
        yield client


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost:9000/hooks",  # a name that resolves to loopback
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://0.0.0.0/hooks",
    ],
)
async def test_private_targets_are_refused_by_default(
    strict_admin: httpx.AsyncClient, url: str
) -> None:
    response = await strict_admin.post(
        ENDPOINTS, json={"url": url, "event_types": ["lead.created"]}
    )
    assert response.status_code == 422, response.text
    assert "public addresses" in response.text or "resolve" in response.text


async def test_patching_to_a_private_target_is_refused_by_default(
    world: World, strict_admin: httpx.AsyncClient
) -> None:
    created = await new_endpoint(world.a.admin, "http://127.0.0.1:1/x", ["lead.created"])
    response = await strict_admin.patch(
        f"{ENDPOINTS}/{created['id']}", json={"url": "http://10.0.0.1/x"}
    )
    assert response.status_code == 422


async def test_only_admins_manage_endpoints(world: World, receiver: Receiver) -> None:
    created = await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    for client in (world.a.manager, world.a.agent):
        assert (await client.get(ENDPOINTS)).status_code == 403
        assert (await client.get(f"{ENDPOINTS}/{created['id']}")).status_code == 403
        response = await client.post(
            ENDPOINTS, json={"url": receiver.url, "event_types": ["lead.created"]}
        )
        assert response.status_code == 403
    assert (await world.anonymous.get(ENDPOINTS)).status_code == 401


async def test_another_companys_endpoint_is_404(world: World, receiver: Receiver) -> None:
    created = await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    path = f"{ENDPOINTS}/{created['id']}"
    b = world.b.admin
    assert (await b.get(path)).status_code == 404
    assert (await b.patch(path, json={"enabled": False})).status_code == 404
    assert (await b.delete(path)).status_code == 404
    assert (await b.post(f"{path}/rotate-secret")).status_code == 404
    assert (await b.post(f"{path}/ping")).status_code == 404
    assert (await b.get(f"{path}/deliveries")).status_code == 404
    assert (await b.get(ENDPOINTS)).json()["total"] == 0
    ping = (await world.a.admin.post(f"{path}/ping")).json()
    redeliver = f"{path}/deliveries/{ping['id']}/redeliver"
    assert (await b.post(redeliver)).status_code == 404
    # and an endpoint of B cannot redeliver A's delivery
    other = await new_endpoint(b, receiver.url, ["lead.created"])
    response = await b.post(f"{ENDPOINTS}/{other['id']}/deliveries/{ping['id']}/redeliver")
    assert response.status_code == 404
