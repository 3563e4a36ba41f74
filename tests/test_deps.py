"""Request dependencies: which session an endpoint gets, and what authentication records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text
from starlette.routing import BaseRoute

from agentconnect.campaigns import endpoints as campaign_endpoints
from agentconnect.contacts import endpoints as contact_endpoints
from agentconnect.deps import SessionDep, is_reads_only, reads_only
from agentconnect.leads import endpoints as lead_endpoints
from agentconnect.models import Role
from tests.fixtures.world import World

# Equal only when the statement is the first of its transaction (see tests/test_db.py).
_SECOND_STATEMENT_HAS_ITS_OWN_TRANSACTION = (
    text("SELECT pg_sleep(0.002)"),
    text("SELECT now() = statement_timestamp()"),
)


async def _own_transaction(session: SessionDep) -> bool:
    first, second = _SECOND_STATEMENT_HAS_ITS_OWN_TRANSACTION
    await session.execute(first)
    return bool(await session.scalar(second))


def _probe_app(app: FastAPI) -> httpx.AsyncClient:
    probes = APIRouter(prefix="/probe")  # included like the app's own routers

    @probes.get("/reading")
    @reads_only
    async def reading(session: SessionDep) -> bool:
        return await _own_transaction(session)

    @probes.get("/unit-of-work")
    async def unit_of_work(session: SessionDep) -> bool:
        return await _own_transaction(session)

    app.include_router(probes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_an_endpoint_marked_reads_only_gets_a_session_without_a_transaction(
    app: FastAPI,
) -> None:
    async with _probe_app(app) as client:
        assert (await client.get("/probe/reading")).json() is True
        assert (await client.get("/probe/unit-of-work")).json() is False


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # FastAPI keeps an included router's own routes on it (`original_router`)
        nested = getattr(getattr(route, "original_router", route), "routes", None)
        if nested is not None and not isinstance(route, APIRoute):
            yield from _api_routes(nested)


def test_only_get_endpoints_are_marked_reads_only(app: FastAPI) -> None:
    """A write in a session without a transaction would commit statement by statement."""
    marked = [r for r in _api_routes(app.routes) if is_reads_only(r.endpoint)]
    endpoints = {route.endpoint for route in marked}
    assert lead_endpoints.list_leads in endpoints
    assert contact_endpoints.get_contact in endpoints
    assert campaign_endpoints.campaign_performance in endpoints
    assert {method for route in marked for method in route.methods} == {"GET"}


async def test_a_reading_endpoint_still_records_an_api_keys_use(world: World) -> None:
    manager_key = world.a.actors[Role.MANAGER].api_key
    headers = {"Authorization": f"Bearer {manager_key}"}
    assert (await world.anonymous.get("/api/v1/leads", headers=headers)).status_code == 200
    keys = (await world.a.admin.get("/api/v1/api-keys")).json()["items"]
    item = next(i for i in keys if i["name"] == "manager key")
    assert item["last_used_at"] is not None
