"""Events are written only for what a company listens to: the hot paths of a company without
webhook endpoints or automation rules write no outbox rows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.db import Database
from agentconnect.models import Event
from tests.analytics.conftest import insert_activities
from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead, set_stage
from tests.webhooks.conftest import ENDPOINTS


async def _kinds(session: AsyncSession, world: World) -> list[str]:
    rows = await session.scalars(
        select(Event.event_type).where(Event.company_id == world.b.id).order_by(Event.seq)
    )
    return list(rows.all())


async def test_a_company_that_listens_to_nothing_writes_no_events(
    world: World, database: Database, session: AsyncSession
) -> None:
    lead = await new_lead(world.b.admin)
    await set_stage(world.b.admin, lead["id"], "customer")
    moved = await world.b.manager.post(
        f"{LEADS}/bulk-stage",
        json={"lead_ids": [(await new_lead(world.b.admin))["id"]], "stage": "sql"},
    )
    assert moved.status_code == 200
    person = await new_contact(world.b.admin, email="quiet@b.example")
    await insert_activities(
        database,
        [{"company_id": str(world.b.id), "campaign_id": None, "contact_id": person["id"],
          "activity_type": "email_replied", "occurred_at": datetime.now(UTC), "metadata": {}}],
    )  # fmt: skip
    assert await session.scalar(select(func.count()).select_from(Event)) == 0


async def test_only_the_types_listened_for_are_written(world: World, session: AsyncSession) -> None:
    created = await world.b.admin.post(
        ENDPOINTS,
        json={"url": "https://hooks.example/b", "event_types": ["lead.stage_changed"]},
    )
    assert created.status_code == 201, created.text
    lead = await new_lead(world.b.admin)  # lead.created, contact.created: nobody listens
    await set_stage(world.b.admin, lead["id"], "mql")
    assert await _kinds(session, world) == ["lead.stage_changed"]
    disabled = await world.b.admin.patch(
        f"{ENDPOINTS}/{created.json()['id']}", json={"enabled": False}
    )
    assert disabled.status_code == 200, disabled.text
    await set_stage(world.b.admin, lead["id"], "sql")  # a disabled endpoint listens to nothing
    assert await _kinds(session, world) == ["lead.stage_changed"]
