"""Scoring endpoints: manual scores, history, bulk qualify, config, activities, conversations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from agentconnect.models import Role
from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead


async def test_manual_score_needs_reasoning_and_counts(world: World) -> None:
    lead = await new_lead(
        world.a.agent, qualification_data={"questions_total": 2, "questions_answered": 2}
    )
    path = f"{LEADS}/{lead['id']}/scores/manual"
    assert (await world.a.agent.post(path, json={"score": 90})).status_code == 422
    assert (
        await world.a.agent.post(path, json={"score": 101, "reasoning": "great"})
    ).status_code == 422
    response = await world.a.agent.post(path, json={"score": 90, "reasoning": "met them, keen"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scores"]["manual"]["score"] == 90
    assert body["scores"]["manual"]["factors"][0]["detail"] == "met them, keen"
    # workflow 50 (weight 0.20) and manual 90 (0.15): (10 + 13.5) / 0.35 = 67
    assert body["combined"]["score"] == 67
    history = (await world.a.agent.get(f"{LEADS}/{lead['id']}/scores/history")).json()
    assert {row["score_type"] for row in history["items"]} == {"manual", "workflow", "combined"}
    manual = next(r for r in history["items"] if r["score_type"] == "manual")
    assert manual["created_by"] == str(world.a.actors[Role.AGENT].user.id)


async def test_agents_score_only_their_own_leads(world: World) -> None:
    theirs = await new_lead(world.a.admin)
    response = await world.a.agent.post(
        f"{LEADS}/{theirs['id']}/scores/manual", json={"score": 10, "reasoning": "nope"}
    )
    assert response.status_code == 403


async def test_scoring_endpoints_are_scoped(world: World) -> None:
    theirs = await new_lead(world.b.admin)
    for method, path, body in [
        ("POST", f"{LEADS}/{theirs['id']}/qualify", None),
        ("POST", f"{LEADS}/{theirs['id']}/scores/manual", {"score": 1, "reasoning": "xyz"}),
        ("GET", f"{LEADS}/{theirs['id']}/scores", None),
        ("GET", f"{LEADS}/{theirs['id']}/scores/history", None),
    ]:
        response = await world.a.admin.request(method, path, json=body)
        assert response.status_code == 404, path
    bulk = await world.a.admin.post(f"{LEADS}/bulk-qualify", json={"lead_ids": [theirs["id"]]})
    assert bulk.json()["not_found"] == [theirs["id"]]


async def test_qualify_without_any_data(world: World) -> None:
    lead = await new_lead(world.a.admin)
    body = (await world.a.admin.post(f"{LEADS}/{lead['id']}/qualify")).json()
    assert body["combined"] is None
    assert body["qualification_status"] is None
    assert body["reason"] == "no score type has data yet"


async def test_bulk_qualify_all_and_by_ids(world: World) -> None:
    good = await new_lead(
        world.a.admin,
        qualification_data={
            "questions_total": 1,
            "questions_answered": 1,
            "budget_confirmed": True,
            "timeline_defined": True,
            "decision_maker": True,
        },
    )
    await new_lead(world.a.admin)
    response = await world.a.manager.post(f"{LEADS}/bulk-qualify", json={"all": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["scored"], body["qualified"], body["promoted"]) == (2, 1, 1)
    assert (await world.a.admin.get(f"{LEADS}/{good['id']}")).json()["stage"] == "mql"
    for bad in ({}, {"all": True, "lead_ids": [good["id"]]}, {"lead_ids": []}, {"all": False}):
        assert (await world.a.manager.post(f"{LEADS}/bulk-qualify", json=bad)).status_code == 422
    assert (
        await world.a.agent.post(f"{LEADS}/bulk-qualify", json={"all": True})
    ).status_code == 403


async def test_scoring_config_round_trip_and_roles(world: World) -> None:
    default = (await world.a.admin.get("/api/v1/scoring/config")).json()
    assert default["weights"]["ai_intent"] == 0.25
    assert (
        default["qualify_threshold"],
        default["mql_threshold"],
        default["disqualify_threshold"],
    ) == (70, 75, 40)
    changed = await world.a.admin.put(
        "/api/v1/scoring/config",
        json={"weights": {"manual": 1}, "qualify_threshold": 60, "mql_threshold": 65},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["weights"] == {"manual": 1.0}
    again = (await world.a.admin.get("/api/v1/scoring/config")).json()
    assert again["qualify_threshold"] == 60
    assert (await world.b.admin.get("/api/v1/scoring/config")).json()["qualify_threshold"] == 70
    assert (await world.a.manager.get("/api/v1/scoring/config")).status_code == 403
    bad = await world.a.admin.put("/api/v1/scoring/config", json={"weights": {"engagement": -0.5}})
    assert bad.status_code == 422


async def test_activities_single_batch_and_duplicates(world: World) -> None:
    contact = await new_contact(world.a.admin, email="act@x.example")
    now = datetime.now(UTC).isoformat()
    first = await world.a.agent.post(
        "/api/v1/activities",
        json={
            "email": "ACT@x.example",
            "activity_type": "form_submitted",
            "occurred_at": now,
            "external_id": "form-1",
            "metadata": {"form": "pricing"},
        },
    )
    assert first.status_code == 201, first.text
    assert first.json()["contact_id"] == contact["id"]
    repeat = await world.a.agent.post(
        "/api/v1/activities",
        json={
            "contact_id": contact["id"],
            "activity_type": "form_submitted",
            "occurred_at": now,
            "external_id": "form-1",
        },
    )
    assert repeat.status_code == 200
    assert repeat.json()["id"] == first.json()["id"]
    batch = await world.a.agent.post(
        "/api/v1/activities/batch",
        json={
            "items": [
                {"contact_id": contact["id"], "activity_type": "page_viewed", "occurred_at": now},
                {"contact_id": contact["id"], "activity_type": "email_opened", "occurred_at": now},
                {"email": "nobody@x.example", "activity_type": "page_viewed", "occurred_at": now},
                {
                    "contact_id": contact["id"],
                    "activity_type": "page_viewed",
                    "occurred_at": now,
                    "external_id": "form-1",
                },
                {"contact_id": contact["id"], "activity_type": "deal_won"},
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert (body["created"], body["duplicates"]) == (1, 1)
    assert [e["index"] for e in body["errors"]] == [1, 2, 4]
    timeline = (await world.a.agent.get(f"/api/v1/contacts/{contact['id']}/activities")).json()
    assert sorted(a["activity_type"] for a in timeline["items"]) == [
        "form_submitted",
        "page_viewed",
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"activity_type": "page_viewed", "occurred_at": "2026-01-01T00:00:00Z"},
        {
            "contact_id": str(uuid.uuid4()),
            "email": "a@x.example",
            "activity_type": "page_viewed",
            "occurred_at": "2026-01-01T00:00:00Z",
        },
        {
            "email": "a@x.example",
            "activity_type": "sms_sent",
            "occurred_at": "2026-01-01T00:00:00Z",
        },
        {"email": "a@x.example", "activity_type": "page_viewed", "occurred_at": "yesterday"},
        # An event time past 9999 in UTC would be stored and then be unreadable.
        {
            "email": "a@x.example",
            "activity_type": "page_viewed",
            "occurred_at": "9999-12-31T23:59:59-14:00",
        },
        {
            "email": "a@x.example",
            "activity_type": "page_viewed",
            "occurred_at": "1970-01-01T00:00:00Z",
        },
    ],
)
async def test_activity_validation(world: World, payload: dict[str, Any]) -> None:
    assert (await world.a.agent.post("/api/v1/activities", json=payload)).status_code == 422


async def test_activity_for_unknown_or_foreign_contact_is_404(world: World) -> None:
    theirs = await new_contact(world.b.admin, email="b@x.example")
    response = await world.a.agent.post(
        "/api/v1/activities",
        json={
            "contact_id": theirs["id"],
            "activity_type": "page_viewed",
            "occurred_at": "2026-01-01T00:00:00Z",
        },
    )
    assert response.status_code == 404
    too_many = await world.a.agent.post("/api/v1/activities/batch", json={"items": [{}] * 1001})
    assert too_many.status_code == 422


async def test_conversations_are_scoped_and_listed(world: World) -> None:
    contact = await new_contact(world.a.admin, email="c@x.example")
    theirs = await new_contact(world.b.admin, email="c@x.example")
    body = {
        "contact_id": contact["id"],
        "channel": "sms",
        "started_at": "2026-11-01T10:00:00Z",
        "messages": [{"role": "contact", "text": "not interested, stop texting me"}],
    }
    created = await world.a.agent.post("/api/v1/conversations", json=body)
    assert created.status_code == 201
    assert [m["intent"] for m in created.json()["intent_matches"]] == ["not_interested"]
    listed = (
        await world.a.agent.get("/api/v1/conversations", params={"contact_id": contact["id"]})
    ).json()
    assert listed["total"] == 1
    one = await world.a.agent.get(f"/api/v1/conversations/{created.json()['id']}")
    assert one.json()["intent_matches"][0]["evidence"] == "not interested, stop texting me"
    assert (
        await world.b.admin.get(f"/api/v1/conversations/{created.json()['id']}")
    ).status_code == 404
    foreign = await world.a.agent.post(
        "/api/v1/conversations", json={**body, "contact_id": theirs["id"]}
    )
    assert foreign.status_code == 404
    for bad in (
        {**body, "channel": "fax"},
        {**body, "messages": []},
        {**body, "messages": [{"role": "bot", "text": "x"}]},
    ):
        assert (await world.a.agent.post("/api/v1/conversations", json=bad)).status_code == 422


async def test_agents_cannot_qualify_other_agents_leads(world: World) -> None:
    theirs = await new_lead(world.a.admin)
    assert (await world.a.agent.post(f"{LEADS}/{theirs['id']}/qualify")).status_code == 403


async def test_a_weightless_score_is_no_evidence_for_disqualifying(world: World) -> None:
    contact = await new_contact(world.a.admin, email="d@x.example", company_size="1-10")
    lead = await new_lead(world.a.admin, contact_id=contact["id"])
    await world.a.admin.post(
        "/api/v1/activities",
        json={
            "contact_id": contact["id"],
            "activity_type": "page_viewed",
            "occurred_at": datetime.now(UTC).isoformat(),
        },
    )
    body = (await world.a.admin.post(f"{LEADS}/{lead['id']}/qualify")).json()
    assert set(body["scores"]) == {"demographic", "behavioral"}  # behavioral weighs 0
    assert body["combined"]["score"] < 40
    assert body["qualification_status"] == "pending"


async def test_high_value_defaults_to_the_configured_minimum(world: World) -> None:
    await new_lead(world.a.admin, title="Twenty", deal_value=20000)
    assert len((await world.a.admin.get(f"{LEADS}/high-value")).json()["items"]) == 1
    await world.a.admin.put("/api/v1/scoring/config", json={"high_value_min": 25000})
    assert (await world.a.admin.get(f"{LEADS}/high-value")).json()["items"] == []


async def test_batch_reports_non_object_items_by_index(world: World) -> None:
    contact = await new_contact(world.a.admin, email="n@x.example")
    batch = await world.a.agent.post(
        "/api/v1/activities/batch",
        json={
            "items": [
                "not an object",
                {
                    "contact_id": contact["id"],
                    "activity_type": "page_viewed",
                    "occurred_at": "2026-11-01T00:00:00Z",
                },
            ]
        },
    )
    assert batch.status_code == 200
    assert (batch.json()["created"], [e["index"] for e in batch.json()["errors"]]) == (1, [0])
