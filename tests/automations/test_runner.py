"""Rules evaluated by the worker from the event outbox: each trigger, condition and action,
failures, disabled rules, and a loop stopped at the bounded depth."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.automations.runner import MAX_DEPTH, Runner
from agentconnect.db import Database
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.delivery.sender import SenderSettings
from agentconnect.models import CampaignContact, Event, Lead, Role
from tests.automations.conftest import AUTOMATIONS, new_rule, runs
from tests.campaigns.conftest import CAMPAIGNS, email_step, new_campaign
from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead, set_stage
from tests.webhooks.test_events import GOOD_ANSWERS

NOW = datetime.now(UTC) + timedelta(minutes=1)


async def contact_of(world: World, contact_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await world.a.admin.get(f"/api/v1/contacts/{contact_id}")).json()
    return body


async def lead_of(world: World, lead_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await world.a.admin.get(f"{LEADS}/{lead_id}")).json()
    return body


async def record_activity(
    session: AsyncSession, company_id: uuid.UUID, contact_id: str, kind: str, **more: Any
) -> None:
    await session.execute(
        text(
            "INSERT INTO campaign_activities (id, company_id, contact_id, lead_id, campaign_id,"
            " activity_type, metadata) VALUES (gen_random_uuid(), :company, :contact, :lead,"
            " :campaign, :kind, '{}')"
        ),
        {"company": company_id, "contact": contact_id, "kind": kind,
         "lead": more.get("lead_id"), "campaign": more.get("campaign_id")},
    )  # fmt: skip
    await session.commit()


async def test_stage_changed_trigger_adds_a_tag(world: World, runner: Runner) -> None:
    rule = await new_rule(
        world.a.manager,
        {"type": "lead_stage_changed", "to_stage": "mql"},
        [{"type": "add_tag", "tag": "hot"}],
    )
    lead = await new_lead(world.a.admin)
    other = await new_lead(world.a.admin)
    await set_stage(world.a.admin, lead["id"], "mql")
    await set_stage(world.a.admin, other["id"], "sql")  # another stage: no match

    outcome = await runner.tick(NOW)

    assert outcome.runs == 1
    assert (await contact_of(world, lead["contact_id"]))["tags"] == ["hot"]
    assert (await contact_of(world, other["contact_id"]))["tags"] == []
    (run,) = await runs(world.a.manager, rule["id"])
    assert (run["outcome"], run["event_type"], run["actions_done"]) == (
        "succeeded",
        "lead.stage_changed",
        1,
    )


async def test_qualified_trigger_assigns_round_robin(world: World, runner: Runner) -> None:
    users = [str(world.a.actors[r].user.id) for r in (Role.AGENT, Role.MANAGER)]
    await new_rule(
        world.a.manager,
        {"type": "lead_qualified"},
        [{"type": "assign_round_robin", "user_ids": users}],
    )
    first = await new_lead(world.a.admin, qualification_data=GOOD_ANSWERS)
    second = await new_lead(world.a.admin, qualification_data=GOOD_ANSWERS)
    for lead in (first, second):
        assert (await world.a.manager.post(f"{LEADS}/{lead['id']}/qualify")).status_code == 200

    await runner.tick(NOW)

    assignees = {(await lead_of(world, lead["id"]))["assigned_to"] for lead in (first, second)}
    assert assignees == set(users)  # the rotation went on from one lead to the next


async def test_disqualified_trigger_closes_the_lead_as_lost(world: World, runner: Runner) -> None:
    await new_rule(
        world.a.manager,
        {"type": "lead_disqualified"},
        [{"type": "set_stage", "stage": "lost", "reason": "disqualified by scoring"}],
    )
    lead = await new_lead(
        world.a.admin,
        qualification_data={"questions_total": 4, "questions_answered": 0,
                            "budget_confirmed": False, "timeline_defined": False,
                            "decision_maker": False},
    )  # fmt: skip
    await world.a.manager.post(
        f"{LEADS}/{lead['id']}/scores/manual", json={"score": 0, "reasoning": "no fit at all"}
    )
    answer = (await world.a.manager.post(f"{LEADS}/{lead['id']}/qualify")).json()
    assert answer["qualification_status"] == "disqualified", answer

    await runner.tick(NOW)

    after = await lead_of(world, lead["id"])
    assert (after["stage"], after["lost_reason"]) == ("lost", "disqualified by scoring")
    history = (await world.a.admin.get(f"{LEADS}/{lead['id']}/stage-history")).json()
    assert history["items"][0]["source"] == "automation"


async def test_score_crossed_trigger_sets_a_lead_field(world: World, runner: Runner) -> None:
    await new_rule(
        world.a.manager,
        {"type": "score_crossed", "threshold": 50},
        [{"type": "set_field", "target": "lead", "field": "deal_value", "value": "5000.00"}],
    )
    await new_rule(
        world.a.manager,
        {"type": "score_crossed", "threshold": 50, "direction": "down"},  # the other way
        [{"type": "add_tag", "tag": "perfect"}],
    )
    lead = await new_lead(world.a.admin, qualification_data=GOOD_ANSWERS)
    await world.a.manager.post(f"{LEADS}/{lead['id']}/qualify")
    score = (await lead_of(world, lead["id"]))["score"]
    assert score >= 50

    await runner.tick(NOW)

    assert (await lead_of(world, lead["id"]))["deal_value"] in ("5000.00", 5000.0, "5000")
    assert (await contact_of(world, lead["contact_id"]))["tags"] == []


async def test_reply_trigger_with_a_channel_condition(
    world: World, runner: Runner, session: AsyncSession
) -> None:
    await new_rule(
        world.a.manager,
        {"type": "activity_recorded", "activity": "reply"},
        [{"type": "set_stage", "stage": "sql"}],
        [{"type": "channel_is", "channel": "email"}, {"type": "stage_in", "stages": ["lead"]}],
    )
    by_email = await new_lead(world.a.admin)
    by_sms = await new_lead(world.a.admin)
    await record_activity(
        session, world.a.id, by_email["contact_id"], "email_replied", lead_id=by_email["id"]
    )
    await record_activity(
        session, world.a.id, by_sms["contact_id"], "sms_replied", lead_id=by_sms["id"]
    )

    await runner.tick(NOW)

    assert (await lead_of(world, by_email["id"]))["stage"] == "sql"
    assert (await lead_of(world, by_sms["id"]))["stage"] == "lead"


async def test_form_submitted_trigger_creates_a_lead(world: World, runner: Runner) -> None:
    await new_rule(
        world.a.manager,
        {"type": "activity_recorded", "activity": "form_submitted"},
        [{"type": "create_lead", "title": "Inbound form"}],
    )
    contact = await new_contact(world.a.admin, email="form@example.com")
    response = await world.a.admin.post(
        "/api/v1/activities",
        json={
            "contact_id": contact["id"],
            "activity_type": "form_submitted",
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        },
    )
    assert response.status_code == 201, response.text

    await runner.tick(NOW)

    leads = (await world.a.admin.get(LEADS)).json()["items"]
    assert [(x["title"], x["source"], x["contact"]["id"]) for x in leads] == [
        ("Inbound form", "automation", contact["id"])
    ]


async def test_contact_created_trigger_enrolls_tagged_contacts(
    world: World, runner: Runner, session: AsyncSession
) -> None:
    campaign = await new_campaign(world.a.admin)
    await email_step(world.a.admin, campaign["id"])
    await new_rule(
        world.a.manager,
        {"type": "contact_created"},
        [{"type": "enroll", "campaign_id": campaign["id"]}],
        [{"type": "has_tag", "tag": "newsletter"}],
    )
    tagged = await new_contact(world.a.admin, email="t@example.com", tags=["newsletter"])
    await new_contact(world.a.admin, email="u@example.com")

    await runner.tick(NOW)

    enrolled = (await session.scalars(select(CampaignContact.contact_id))).all()
    assert [str(c) for c in enrolled] == [tagged["id"]]


async def test_goal_achieved_trigger_unenrolls_from_another_campaign(
    world: World, runner: Runner, session: AsyncSession
) -> None:
    nurture, onboarding = await new_campaign(world.a.admin), await new_campaign(world.a.admin)
    contact = await new_contact(world.a.admin, email="goal@example.com")
    for campaign in (nurture, onboarding):
        await email_step(world.a.admin, campaign["id"])
        await world.a.admin.post(
            f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [contact["id"]]}
        )
    await new_rule(
        world.a.manager,
        {"type": "goal_achieved", "campaign_id": onboarding["id"]},
        [{"type": "unenroll", "campaign_id": nurture["id"]}],
    )
    await record_activity(
        session, world.a.id, contact["id"], "goal_achieved", campaign_id=onboarding["id"]
    )

    await runner.tick(NOW)

    statuses = dict(
        (await session.execute(select(CampaignContact.campaign_id, CampaignContact.status))).all()
    )
    assert statuses[uuid.UUID(nurture["id"])] == "unenrolled"
    assert statuses[uuid.UUID(onboarding["id"])] == "active"


async def test_meeting_trigger_sets_a_contact_field_removes_a_tag_and_sends_a_webhook_event(
    world: World, runner: Runner, session: AsyncSession
) -> None:
    await new_rule(
        world.a.manager,
        {"type": "activity_recorded", "activity": "meeting_scheduled"},
        [
            {"type": "set_field", "target": "contact", "field": "job_title", "value": "Buyer"},
            {"type": "remove_tag", "tag": "cold"},
            {"type": "send_webhook", "label": "meeting-booked"},
        ],
        [{"type": "source_in", "sources": ["webinar"]}],
    )
    contact = await new_contact(
        world.a.admin, email="m@example.com", tags=["cold", "vip"], lead_source="webinar"
    )
    await record_activity(session, world.a.id, contact["id"], "meeting_scheduled")

    await runner.tick(NOW)

    after = await contact_of(world, contact["id"])
    assert (after["job_title"], after["tags"]) == ("Buyer", ["vip"])
    (sent,) = (
        await session.scalars(select(Event).where(Event.event_type == "automation.triggered"))
    ).all()
    assert sent.payload["label"] == "meeting-booked"
    assert sent.payload["event"]["type"] == "meeting.scheduled"
    assert sent.depth == 1


async def test_a_failed_action_keeps_nothing_of_its_run(world: World, runner: Runner) -> None:
    rule = await new_rule(
        world.a.manager,
        {"type": "lead_stage_changed", "to_stage": "lost"},
        [{"type": "add_tag", "tag": "lost-once"}, {"type": "set_stage", "stage": "mql"}],
    )
    lead = await new_lead(world.a.admin)
    await set_stage(world.a.admin, lead["id"], "lost", "no budget")

    outcome = await runner.tick(NOW)

    assert outcome.failed == 1
    (run,) = await runs(world.a.manager, rule["id"])
    assert run["outcome"] == "failed"
    assert run["actions_done"] == 1
    assert "action 2" in run["detail"]
    assert "reason" in run["detail"]
    assert (await contact_of(world, lead["contact_id"]))["tags"] == []  # rolled back with it
    assert (await lead_of(world, lead["id"]))["stage"] == "lost"


async def test_a_disabled_rule_does_not_run(world: World, runner: Runner) -> None:
    rule = await new_rule(
        world.a.manager, {"type": "contact_created"}, [{"type": "add_tag", "tag": "x"}]
    )
    await world.a.manager.patch(f"{AUTOMATIONS}/{rule['id']}", json={"enabled": False})
    contact = await new_contact(world.a.admin, email="d@example.com")
    await runner.tick(NOW)
    assert (await contact_of(world, contact["id"]))["tags"] == []
    assert await runs(world.a.manager, rule["id"]) == []


async def test_rules_of_one_company_never_act_on_anothers_events(
    world: World, runner: Runner
) -> None:
    await new_rule(world.a.manager, {"type": "contact_created"}, [{"type": "add_tag", "tag": "a"}])
    theirs = await new_contact(world.b.admin, email="b@example.com")
    await runner.tick(NOW)
    response = await world.b.admin.get(f"/api/v1/contacts/{theirs['id']}")
    assert response.json()["tags"] == []


async def test_a_loop_is_stopped_at_the_bounded_depth(
    world: World, runner: Runner, session: AsyncSession
) -> None:
    up = await new_rule(
        world.a.manager,
        {"type": "lead_stage_changed", "to_stage": "mql"},
        [{"type": "set_stage", "stage": "sql"}],
        name="mql -> sql",
    )
    down = await new_rule(
        world.a.manager,
        {"type": "lead_stage_changed", "to_stage": "sql"},
        [{"type": "set_stage", "stage": "mql"}],
        name="sql -> mql",
    )
    lead = await new_lead(world.a.admin)
    await set_stage(world.a.admin, lead["id"], "mql")

    outcome = await runner.tick(NOW)

    assert outcome.loops_stopped == 1
    automated = (
        await session.execute(
            text(
                "SELECT count(*) FROM lead_stage_changes WHERE lead_id = :id"
                " AND source = 'automation'"
            ),
            {"id": lead["id"]},
        )
    ).scalar_one()
    assert automated == MAX_DEPTH
    every = await runs(world.a.manager, up["id"]) + await runs(world.a.manager, down["id"])
    outcomes = sorted(r["outcome"] for r in every)
    assert outcomes == ["loop_stopped"] + ["succeeded"] * MAX_DEPTH
    (stopped,) = [r for r in every if r["outcome"] == "loop_stopped"]
    assert stopped["depth"] == MAX_DEPTH
    assert "loop" in stopped["detail"]
    filtered = await world.a.manager.get(
        f"{AUTOMATIONS}/{up['id'] if stopped['rule_id'] == up['id'] else down['id']}/runs",
        params={"outcome": "loop_stopped"},
    )
    assert filtered.json()["total"] == 1
    # nothing is left waiting: the runner is idle afterwards
    assert (await runner.tick(NOW)).events == 0
    lead_row = await session.get(Lead, uuid.UUID(lead["id"]))
    assert lead_row is not None


async def test_enrollment_completed_trigger_from_the_delivery_engine(
    world: World, runner: Runner, database: Database, app: Any, session: AsyncSession
) -> None:
    campaign = await new_campaign(world.a.admin)
    await email_step(world.a.admin, campaign["id"])
    contact = await new_contact(world.a.admin, email="done@example.com")
    await world.a.admin.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [contact["id"]]}
    )
    assert (await world.a.admin.post(f"{CAMPAIGNS}/{campaign['id']}/start")).status_code == 200
    rule = await new_rule(
        world.a.manager,
        {"type": "enrollment_completed", "campaign_id": campaign["id"]},
        [{"type": "add_tag", "tag": "sequence-done"}],
    )
    engine = Engine(
        database,
        EngineSettings(base_url="http://crm.test", secret_key=app.state.secret_key),
        SenderSettings(worker_id="test", batch_size=50),
    )
    await engine.tick(datetime.now(UTC) + timedelta(minutes=5))

    (event,) = (
        await session.scalars(select(Event).where(Event.event_type == "enrollment.completed"))
    ).all()
    assert event.payload["enrollment"]["campaign_id"] == campaign["id"]
    await runner.tick(NOW)
    assert (await contact_of(world, contact["id"]))["tags"] == ["sequence-done"]
    assert [r["outcome"] for r in await runs(world.a.manager, rule["id"])] == ["succeeded"]
