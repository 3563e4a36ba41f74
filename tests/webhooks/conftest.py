"""A real HTTP receiver on loopback, an app allowed to reach it, and the dispatcher."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from agentconnect.app import create_app
from agentconnect.config import Settings
from agentconnect.db import Database
from agentconnect.models import WebhookEndpoint
from agentconnect.webhooks.dispatcher import Dispatcher, DispatchSettings
from agentconnect.webhooks.events import EVENT_TYPES
from tests.fixtures.world import World

ENDPOINTS = "/api/v1/webhook-endpoints"


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, written from the spec (not the project's code): HMAC-SHA256
    keyed with the base64-decoded part of the secret after `whsec_`, over
    `id.timestamp.body`, compared with each space-separated `v1,<base64>` signature."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def message(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    url: str
    # answers to give, in order (status, headers); once used up, 200
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]


@pytest.fixture
async def listening(world: World, database: Database) -> None:
    """Company A listens for every event type, through an endpoint no test delivers to: events
    are written only for types that an enabled endpoint or rule of the company listens for."""
    async with database.unit_of_work() as session:
        session.add(
            WebhookEndpoint(
                company_id=world.a.id,
                url="https://hooks.example/everything",
                event_types=list(EVENT_TYPES),
                enabled=True,
                secret_ciphertext=b"not used: nothing is delivered in these tests",
            )
        )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(url="")

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        status, headers = state.script.pop(0) if state.script else (200, {})
        state.requests.append(Received({k.lower(): v for k, v in request.headers.items()},
                                       body, status))  # fmt: skip
        return web.Response(status=status, headers=headers, text="ok")

    server = web.Application()
    server.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/hooks"
    yield state
    await runner.cleanup()


@pytest.fixture
def app(settings: Settings, database: Database):  # type: ignore[no-untyped-def]
    """The API with private targets allowed, so endpoints may point at the loopback receiver
    (what AGENTCONNECT_WEBHOOKS_ALLOW_PRIVATE_TARGETS does for an operator)."""
    allowed = settings.model_copy(update={"webhooks_allow_private_targets": True})
    return create_app(allowed, database)


@pytest.fixture
def dispatcher(database: Database, app: Any) -> Dispatcher:
    return Dispatcher(
        database,
        DispatchSettings(secret_key=app.state.secret_key, allow_private=True, timeout=5),
    )


async def new_endpoint(client: Any, url: str, event_types: list[str]) -> dict[str, Any]:
    response = await client.post(ENDPOINTS, json={"url": url, "event_types": event_types})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
