"""The issue's scenario: replies, clicks and a promising conversation promote a lead by itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from agentconnect.models import CampaignActivity, Lead
from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead


async def _activities(
    session: Any, company_id: uuid.UUID, contact_id: str, types: list[str]
) -> None:
    now = datetime.now(UTC)
    rows = [
        {"id": uuid.uuid4(), "company_id": company_id, "contact_id": uuid.UUID(contact_id),
         "activity_type": t, "occurred_at": now - timedelta(hours=i), "details": {}}
        for i, t in enumerate(types)
    ]  # fmt: skip
    await session.execute(insert(CampaignActivity), rows)
    await session.commit()


async def test_a_lead_that_replied_clicked_and_talked_budget_becomes_mql(
    world: World, session: Any
) -> None:
    contact = await new_contact(
        world.a.admin, first_name="Rita", email="rita@bigco.example", job_title="VP Operations",
        company_size="201-1000", industry="software",
    )  # fmt: skip
    lead = await new_lead(
        world.a.agent, contact_id=contact["id"],  # agents qualify only their own leads
        qualification_data={
            "budget_confirmed": True, "timeline_defined": True, "decision_maker": True,
            "questions_total": 4, "questions_answered": 4,
        },
    )  # fmt: skip
    await _activities(
        session, world.a.id, contact["id"],
        ["email_sent", "email_opened", "email_opened", "email_clicked", "email_clicked",
         "email_replied"],
    )  # fmt: skip
    talk = await world.a.agent.post(
        "/api/v1/conversations",
        json={
            "contact_id": contact["id"],
            "channel": "call",
            "started_at": datetime.now(UTC).isoformat(),
            "messages": [
                {
                    "role": "agent",
                    "text": "Is budget a problem? We're not interested in wasting your time.",
                },
                {"role": "contact", "text": "We have budget approved, can we start next month?"},
            ],
        },
    )
    assert talk.status_code == 201, talk.text
    intents = {m["intent"] for m in talk.json()["intent_matches"]}
    assert intents == {"budget_confirmed", "timeline_defined"}  # the agent's words never count

    response = await world.a.agent.post(f"{LEADS}/{lead['id']}/qualify")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["qualification_status"] == "qualified"
    assert result["stage"] == "mql"
    assert result["combined"]["score"] >= 75
    assert set(result["scores"]) == {"ai_intent", "engagement", "demographic", "workflow"}

    moved = (await world.a.agent.get(f"{LEADS}/{lead['id']}")).json()
    assert (moved["stage"], moved["qualification_status"]) == ("mql", "qualified")
    history = (await world.a.agent.get(f"{LEADS}/{lead['id']}/stage-history")).json()["items"]
    assert (history[0]["to_stage"], history[0]["source"]) == ("mql", "scoring")
    assert history[0]["changed_by"] is None

    explained = (await world.a.agent.get(f"{LEADS}/{lead['id']}/scores")).json()
    assert explained["combined"] == result["combined"]["score"]
    engagement = explained["scores"]["engagement"]
    assert {f["name"] for f in engagement["factors"]} == {"opens", "clicks", "replies"}
    # every point is explained: the score is the rounded sum of its factors
    assert round(sum(f["points"] for f in engagement["factors"])) == engagement["score"]
    intent = explained["scores"]["ai_intent"]
    assert any("budget approved" in f["detail"] for f in intent["factors"])
    combined = explained["scores"]["combined"]
    assert any(f["name"] == "rules" and "promoted" in f["detail"] for f in combined["factors"])
    assert explained["weights"]["ai_intent"] == 0.25

    contact_now = (await world.a.agent.get(f"/api/v1/contacts/{contact['id']}")).json()
    assert contact_now["lead_score"] == result["combined"]["score"]
    assert contact_now["lifecycle_stage"] == "mql"
    lead_row = await session.scalar(select(Lead.score).where(Lead.id == uuid.UUID(lead["id"])))
    assert lead_row == result["combined"]["score"]
    # the conversation queued one debounced rescoring job for the contact
    jobs = (await session.execute(text(
        "SELECT task_name, status FROM procrastinate_jobs WHERE queueing_lock LIKE :lock"
    ), {"lock": f"rescore:%:{contact['id']}"})).all()  # fmt: skip
    assert [(j.task_name, j.status) for j in jobs] == [
        ("agentconnect.worker.rescore_contacts", "todo")
    ]
