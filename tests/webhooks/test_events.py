"""The outbox: each change writes its event in its own transaction, set-based; a rolled-back
change writes none."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.db import Database
from agentconnect.delivery import repository as delivery_repo
from agentconnect.leads import schemas as lead_schemas
from agentconnect.leads import service as leads
from agentconnect.models import Event, Role
from tests.campaigns.conftest import CAMPAIGNS, email_step, new_campaign
from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead, set_stage

pytestmark = pytest.mark.usefixtures("listening")

GOOD_ANSWERS = {
    "questions_total": 1,
    "questions_answered": 1,
    "budget_confirmed": True,
    "timeline_defined": True,
    "decision_maker": True,
}


async def events_of(session: AsyncSession, company_id: uuid.UUID, kind: str) -> list[Event]:
    rows = await session.scalars(
        select(Event)
        .where(Event.company_id == company_id, Event.event_type == kind)
        .order_by(Event.seq)
    )
    return list(rows.all())


async def test_lead_created_stage_changed_and_deal_won(world: World, session: AsyncSession) -> None:
    lead = await new_lead(world.a.admin, title="Big one", deal_value="1200.00")
    await set_stage(world.a.admin, lead["id"], "opportunity")
    await set_stage(world.a.admin, lead["id"], "customer")

    (created,) = await events_of(session, world.a.id, "lead.created")
    assert created.payload["lead"]["title"] == "Big one"
    assert created.lead_id == uuid.UUID(lead["id"])
    changes = await events_of(session, world.a.id, "lead.stage_changed")
    assert [(e.payload["from_stage"], e.payload["to_stage"]) for e in changes] == [
        ("lead", "opportunity"),
        ("opportunity", "customer"),
    ]
    assert changes[0].payload["source"] == "manual"
    (won,) = await events_of(session, world.a.id, "deal.won")
    assert won.payload["lead"]["deal_value"] == 1200.0
    assert won.seq > created.seq


async def test_bulk_stage_change_writes_one_event_per_moved_lead(
    world: World, session: AsyncSession
) -> None:
    ids = [(await new_lead(world.a.admin))["id"] for _ in range(5)]
    await set_stage(world.a.admin, ids[0], "sql")  # already there: not moved again
    response = await world.a.manager.post(
        f"{LEADS}/bulk-stage", json={"lead_ids": ids, "stage": "sql", "reason": "webinar"}
    )
    assert response.json()["updated"] == 4
    bulk = [
        e for e in await events_of(session, world.a.id, "lead.stage_changed")
        if e.payload["source"] == "bulk"
    ]  # fmt: skip
    assert sorted(str(e.lead_id) for e in bulk) == sorted(ids[1:])
    assert {e.payload["reason"] for e in bulk} == {"webinar"}


async def test_bulk_events_are_one_statement(world: World, database: Database) -> None:
    ids = [(await new_lead(world.a.admin))["id"] for _ in range(30)]
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "INSERT INTO events" in statement:
            statements.append(statement)

    sqlalchemy_event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        response = await world.a.manager.post(
            f"{LEADS}/bulk-stage", json={"lead_ids": ids, "stage": "customer", "reason": "won"}
        )
    finally:
        sqlalchemy_event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    assert response.json()["updated"] == 30
    assert len(statements) == 2  # lead.stage_changed and deal.won, 30 rows each


async def test_assignment_events(world: World, session: AsyncSession) -> None:
    lead = await new_lead(world.a.admin)
    agent = world.a.actors[Role.AGENT].user.id
    manager = world.a.actors[Role.MANAGER].user.id
    path = f"{LEADS}/{lead['id']}/assign"
    assert (await world.a.manager.put(path, json={"user_id": str(agent)})).status_code == 200
    assert (await world.a.manager.put(path, json={"user_id": str(agent)})).status_code == 200
    others = [(await new_lead(world.a.admin))["id"] for _ in range(3)]
    response = await world.a.manager.post(
        f"{LEADS}/bulk-assign",
        json={
            "lead_ids": others,
            "user_ids": [str(agent), str(manager)],
            "strategy": "round_robin",
        },
    )
    assert response.status_code == 200, response.text
    assigned = await events_of(session, world.a.id, "lead.assigned")
    assert len(assigned) == 4  # the repeated assignment changed nothing and said nothing
    assert assigned[0].payload["lead"]["assigned_to"] == str(agent)


async def test_contact_created_and_opted_out(world: World, session: AsyncSession) -> None:
    contact = await new_contact(world.a.admin, email="pat@example.com", tags=["vip"])
    path = f"/api/v1/contacts/{contact['id']}"
    await world.a.admin.patch(path, json={"opt_in_status": "opted_out"})
    await world.a.admin.patch(path, json={"first_name": "Pat"})  # still opted out: no event
    (created,) = await events_of(session, world.a.id, "contact.created")
    assert created.payload["contact"]["email"] == "pat@example.com"
    assert created.payload["contact"]["tags"] == ["vip"]
    (opted,) = await events_of(session, world.a.id, "contact.opted_out")
    assert opted.payload["contact"]["opt_in_status"] == "opted_out"


async def test_qualification_events(world: World, session: AsyncSession) -> None:
    good = await new_lead(world.a.admin, qualification_data=GOOD_ANSWERS)
    response = await world.a.manager.post(f"{LEADS}/{good['id']}/qualify")
    assert response.status_code == 200, response.text
    (qualified,) = await events_of(session, world.a.id, "lead.qualified")
    assert qualified.payload["lead"]["qualification_status"] == "qualified"
    assert qualified.payload["previous_status"] == "pending"
    (scored,) = await events_of(session, world.a.id, "lead.score_changed")
    assert scored.payload["previous_score"] == 0
    assert scored.payload["score"] == qualified.payload["score"] > 0
    # the promotion to MQL is a stage change by scoring
    (promoted,) = await events_of(session, world.a.id, "lead.stage_changed")
    assert promoted.payload["source"] == "scoring"
    # qualifying again changes nothing and says nothing
    await world.a.manager.post(f"{LEADS}/{good['id']}/qualify")
    assert len(await events_of(session, world.a.id, "lead.qualified")) == 1


async def test_campaign_started_and_completed(
    world: World, session: AsyncSession, database: Database
) -> None:
    campaign = await new_campaign(world.a.admin)
    await email_step(world.a.admin, campaign["id"])
    contact = await new_contact(world.a.admin, email="kim@example.com")
    await world.a.admin.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [contact["id"]]}
    )
    assert (await world.a.admin.post(f"{CAMPAIGNS}/{campaign['id']}/start")).status_code == 200
    (started,) = await events_of(session, world.a.id, "campaign.started")
    assert started.payload["campaign"]["status"] == "active"
    await world.a.admin.post(
        f"{CAMPAIGNS}/{campaign['id']}/unenroll", json={"contact_ids": [contact["id"]]}
    )
    # the unenrollment completes it (the service's path); the engine's sweep finds nothing more
    async with database.unit_of_work() as uow:
        assert await delivery_repo.complete_finished_campaigns(uow, datetime.now(UTC)) == 0
    (completed,) = await events_of(session, world.a.id, "campaign.completed")
    assert completed.payload["campaign"]["id"] == campaign["id"]
    assert completed.payload["campaign"]["status"] == "completed"


async def test_the_engines_sweep_emits_campaign_completed(
    world: World, session: AsyncSession, database: Database
) -> None:
    campaign = await new_campaign(world.a.admin)
    await email_step(world.a.admin, campaign["id"])
    contact = await new_contact(world.a.admin, email="sweep@example.com")
    await world.a.admin.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [contact["id"]]}
    )
    await world.a.admin.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    await session.execute(
        text("UPDATE campaign_contacts SET status = 'completed' WHERE campaign_id = :id"),
        {"id": campaign["id"]},
    )
    await session.commit()
    async with database.unit_of_work() as uow:
        assert await delivery_repo.complete_finished_campaigns(uow, datetime.now(UTC)) == 1
    (completed,) = await events_of(session, world.a.id, "campaign.completed")
    assert completed.payload["campaign"]["status"] == "completed"


@pytest.mark.parametrize(
    ("activity_type", "event_type"),
    [
        ("email_delivered", "message.delivered"),
        ("sms_delivered", "message.delivered"),
        ("whatsapp_replied", "message.replied"),
        ("email_replied", "message.replied"),
        ("meeting_scheduled", "meeting.scheduled"),
        ("sms_opted_out", "contact.opted_out"),
        ("email_complained", "contact.opted_out"),
        ("email_unsubscribed", "contact.opted_out"),
        ("goal_achieved", "enrollment.goal_achieved"),
        ("form_submitted", "activity.recorded"),
        ("call_completed", "activity.recorded"),
    ],
)
async def test_activities_emit_their_events(
    world: World, session: AsyncSession, activity_type: str, event_type: str
) -> None:
    lead = await new_lead(world.a.admin)
    await session.execute(
        text(
            "INSERT INTO campaign_activities (id, company_id, contact_id, lead_id, activity_type,"
            " metadata) VALUES (gen_random_uuid(), :c, :contact, :lead, :type, '{\"k\": 1}')"
        ),
        {"c": world.a.id, "contact": lead["contact_id"], "lead": lead["id"], "type": activity_type},
    )
    await session.commit()
    (event,) = await events_of(session, world.a.id, event_type)
    assert event.payload["activity"]["activity_type"] == activity_type
    assert event.payload["activity"]["metadata"] == {"k": 1}
    assert event.payload["contact"]["id"] == lead["contact_id"]
    assert event.lead_id == uuid.UUID(lead["id"])


async def test_an_activity_posted_through_the_api_emits_meeting_scheduled(
    world: World, session: AsyncSession
) -> None:
    contact = await new_contact(world.a.admin, email="lee@example.com")
    response = await world.a.admin.post(
        "/api/v1/activities",
        json={
            "contact_id": contact["id"],
            "activity_type": "meeting_scheduled",
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    (event,) = await events_of(session, world.a.id, "meeting.scheduled")
    assert event.contact_id == uuid.UUID(contact["id"])


async def test_enrolled_activities_emit_nothing(world: World, session: AsyncSession) -> None:
    campaign = await new_campaign(world.a.admin)
    contact = await new_contact(world.a.admin, email="noevent@example.com")
    await world.a.admin.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [contact["id"]]}
    )
    kinds = await session.scalars(select(Event.event_type).where(Event.company_id == world.a.id))
    assert list(kinds) == ["contact.created"]


async def test_a_rolled_back_change_emits_nothing(world: World, database: Database) -> None:
    principal = Principal(world.a.id, Role.ADMIN)

    async def count() -> int:
        async with database.unit_of_work() as s:
            return int(await s.scalar(text("SELECT count(*) FROM events")) or 0)

    contact = await new_contact(world.a.admin, email="rb@example.com")
    before = await count()

    async def change_then_fail() -> None:
        async with database.unit_of_work() as s:
            lead = await leads.create_lead(
                s, principal, lead_schemas.LeadCreate(contact_id=contact["id"])
            )
            await leads.change_stage(
                s, principal, lead.id, lead_schemas.StageChangeRequest(stage="mql")
            )
            assert int(await s.scalar(text("SELECT count(*) FROM events")) or 0) == before + 2
            raise RuntimeError("the request failed after the change")

    with pytest.raises(RuntimeError):
        await change_then_fail()
    assert await count() == before
    # the same change committed has its events
    async with database.unit_of_work() as s:
        await leads.create_lead(s, principal, lead_schemas.LeadCreate(contact_id=contact["id"]))
    assert await count() == before + 1


async def test_a_refused_request_emits_nothing(world: World, session: AsyncSession) -> None:
    lead = await new_lead(world.a.admin)
    await set_stage(world.a.admin, lead["id"], "lost", "budget")
    refused = await set_stage(world.a.admin, lead["id"], "mql")  # closed: needs a reason
    assert refused.status_code == 409
    changes: list[Any] = await events_of(session, world.a.id, "lead.stage_changed")
    assert [e.payload["to_stage"] for e in changes] == ["lost"]
