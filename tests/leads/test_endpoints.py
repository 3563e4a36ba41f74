"""Leads API: CRUD, filters, roles and tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agentconnect.models import Role
from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead


async def test_create_lead_with_every_field(world: World) -> None:
    contact = await new_contact(world.a.admin, company_name="Acme", email="c@acme.example")
    manager = world.a.actors[Role.MANAGER].user
    response = await world.a.admin.post(
        LEADS,
        json={
            "contact_id": contact["id"],
            "title": "Acme renewal",
            "stage": "sql",
            "deal_value": "12500.50",
            "currency": "eur",
            "expected_close_date": "2027-01-31",
            "assigned_to": str(manager.id),
            "source": "webinar",
            "qualification_data": {
                "budget_confirmed": True,
                "questions_total": 5,
                "questions_answered": 3,
                "favourite": "tea",
            },
        },
    )
    assert response.status_code == 201, response.text
    lead = response.json()
    assert lead["stage"] == "sql"
    assert lead["qualification_status"] == "pending"
    assert lead["score"] == 0
    assert lead["deal_value"] == "12500.50"
    assert lead["currency"] == "EUR"
    assert lead["expected_close_date"] == "2027-01-31"
    assert lead["assigned_to"] == str(manager.id)
    assert lead["qualification_data"] == {
        "budget_confirmed": True,
        "questions_total": 5,
        "questions_answered": 3,
        "favourite": "tea",
    }
    assert lead["previous_stage"] is None
    assert lead["contact"]["email"] == "c@acme.example"
    contact_now = (await world.a.admin.get(f"/api/v1/contacts/{contact['id']}")).json()
    assert contact_now["lifecycle_stage"] == "sql"


async def test_negative_zero_is_zero(world: World) -> None:
    lead = await new_lead(world.a.admin, deal_value="-0")
    assert lead["deal_value"] == "0.00"


async def test_a_new_lead_never_moves_its_contact_backwards(world: World) -> None:
    contact = await new_contact(world.a.admin, lifecycle_stage="customer")
    await new_lead(world.a.admin, contact_id=contact["id"])
    now = (await world.a.admin.get(f"/api/v1/contacts/{contact['id']}")).json()
    assert now["lifecycle_stage"] == "customer"


async def test_merged_answers_cannot_exceed_the_questions(world: World) -> None:
    lead = await new_lead(world.a.admin, qualification_data={"questions_total": 5})
    response = await world.a.admin.patch(
        f"{LEADS}/{lead['id']}", json={"qualification_data": {"questions_answered": 9}}
    )
    assert response.status_code == 422
    assert "questions_answered" in response.json()["detail"]


async def test_title_defaults_to_the_contacts_company(world: World) -> None:
    contact = await new_contact(world.a.admin, company_name="Globex")
    lead = await new_lead(world.a.admin, contact_id=contact["id"])
    assert lead["title"] == "Globex"
    assert lead["stage"] == "lead"
    assert lead["currency"] == "USD"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "contact_id"),
        ({"contact_id": "nope"}, "contact_id"),
        ({"stage": "won"}, "stage"),
        ({"deal_value": "-1"}, "deal_value"),
        ({"deal_value": "1.234"}, "deal_value"),
        ({"deal_value": "lots"}, "deal_value"),
        ({"currency": "dollars"}, "currency"),
        ({"expected_close_date": "soon"}, "expected_close_date"),
        ({"qualification_data": {"budget_confirmed": "maybe"}}, "budget_confirmed"),
        (
            {"qualification_data": {"questions_total": 2, "questions_answered": 3}},
            "questions_answered",
        ),
        ({"qualification_data": []}, "qualification_data"),
        ({"title": ""}, "title"),
        ({"score": 99}, "score"),
        ({"lost_reason": "why not"}, "body"),
        ({"qualification_data": {"deep": [[[[[[1]]]]]]}}, "qualification_data"),
    ],
)
async def test_create_rejects_bad_input(world: World, payload: dict[str, Any], field: str) -> None:
    if "contact_id" not in payload and field != "contact_id":
        payload["contact_id"] = (await new_contact(world.a.admin))["id"]
    response = await world.a.admin.post(LEADS, json=payload)
    assert response.status_code == 422, response.text
    locs = [str(p) for e in response.json()["errors"] for p in e["loc"]]
    assert field in locs


async def test_created_lost_needs_a_reason(world: World) -> None:
    contact = await new_contact(world.a.admin)
    response = await world.a.admin.post(LEADS, json={"contact_id": contact["id"], "stage": "lost"})
    assert response.status_code == 422
    assert "lost_reason" in response.json()["detail"]


async def test_another_companys_contact_or_user_is_404(world: World) -> None:
    theirs = await new_contact(world.b.admin)
    response = await world.a.admin.post(LEADS, json={"contact_id": theirs["id"]})
    assert response.status_code == 404
    ours = await new_contact(world.a.admin)
    their_user = world.b.actors[Role.AGENT].user
    response = await world.a.admin.post(
        LEADS, json={"contact_id": ours["id"], "assigned_to": str(their_user.id)}
    )
    assert response.status_code == 404


async def test_an_agents_lead_is_its_own(world: World) -> None:
    agent = world.a.actors[Role.AGENT].user
    lead = await new_lead(world.a.agent)
    assert lead["assigned_to"] == str(agent.id)
    manager = world.a.actors[Role.MANAGER].user
    contact = await new_contact(world.a.agent)
    response = await world.a.agent.post(
        LEADS, json={"contact_id": contact["id"], "assigned_to": str(manager.id)}
    )
    assert response.status_code == 403


async def test_get_patch_delete_are_scoped_to_the_company(world: World) -> None:
    theirs = await new_lead(world.b.admin, title="B deal")
    path = f"{LEADS}/{theirs['id']}"
    assert (await world.a.admin.get(path)).status_code == 404
    assert (await world.a.admin.patch(path, json={"title": "stolen"})).status_code == 404
    assert (await world.a.admin.delete(path)).status_code == 404
    assert (await world.a.admin.get(f"{path}/stage-history")).status_code == 404
    assert (await world.a.admin.put(f"{path}/stage", json={"stage": "mql"})).status_code == 404
    assert (await world.a.admin.put(f"{path}/assign", json={"user_id": None})).status_code == 404
    assert (await world.b.admin.get(path)).json()["title"] == "B deal"


async def test_patch_merges_qualification_answers(world: World) -> None:
    lead = await new_lead(world.a.admin, qualification_data={"budget_confirmed": True})
    response = await world.a.admin.patch(
        f"{LEADS}/{lead['id']}",
        json={"deal_value": 900, "qualification_data": {"decision_maker": False}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deal_value"] == "900.00"
    assert body["qualification_data"] == {"budget_confirmed": True, "decision_maker": False}


@pytest.mark.parametrize(
    "payload",
    [{"stage": "mql"}, {"assigned_to": None}, {"title": None}, {"contact_id": str(uuid.uuid4())}],
)
async def test_patch_refuses_stage_assignee_and_nulls(
    world: World, payload: dict[str, Any]
) -> None:
    lead = await new_lead(world.a.admin)
    response = await world.a.admin.patch(f"{LEADS}/{lead['id']}", json=payload)
    assert response.status_code == 422


async def test_agents_change_only_their_own_leads(world: World) -> None:
    mine = await new_lead(world.a.agent)
    not_mine = await new_lead(world.a.admin)
    ok = await world.a.agent.patch(f"{LEADS}/{mine['id']}", json={"title": "mine"})
    assert ok.status_code == 200
    refused = await world.a.agent.patch(f"{LEADS}/{not_mine['id']}", json={"title": "x"})
    assert refused.status_code == 403
    stage = await world.a.agent.put(f"{LEADS}/{not_mine['id']}/stage", json={"stage": "mql"})
    assert stage.status_code == 403
    readable = await world.a.agent.get(f"{LEADS}/{not_mine['id']}")
    assert readable.status_code == 200


async def test_delete_needs_a_manager(world: World) -> None:
    lead = await new_lead(world.a.agent)
    assert (await world.a.agent.delete(f"{LEADS}/{lead['id']}")).status_code == 403
    assert (await world.a.manager.delete(f"{LEADS}/{lead['id']}")).status_code == 204
    assert (await world.a.manager.get(f"{LEADS}/{lead['id']}")).status_code == 404


async def test_deleting_the_contact_deletes_its_leads(world: World) -> None:
    lead = await new_lead(world.a.admin)
    await world.a.admin.delete(f"/api/v1/contacts/{lead['contact_id']}")
    assert (await world.a.admin.get(f"{LEADS}/{lead['id']}")).status_code == 404


async def test_unauthenticated_is_401(world: World) -> None:
    for path in (LEADS, f"{LEADS}/stats", f"{LEADS}/by-stage", f"{LEADS}/{uuid.uuid4()}"):
        response = await world.anonymous.get(path)
        assert response.status_code == 401


# --- list ----------------------------------------------------------------------------------------


@pytest.fixture
async def pipeline(world: World) -> dict[str, dict[str, Any]]:
    agent = str(world.a.actors[Role.AGENT].user.id)
    leads = {
        "small": await new_lead(world.a.admin, title="Small deal", deal_value=500, stage="lead"),
        "big": await new_lead(
            world.a.admin,
            title="Big deal",
            deal_value=50000,
            stage="opportunity",
            assigned_to=agent,
        ),
        "mid": await new_lead(
            world.a.admin, title="Mid deal", deal_value=12000, stage="sql", assigned_to=agent
        ),
        "won": await new_lead(world.a.admin, title="Won deal", deal_value=30000, stage="customer"),
        "none": await new_lead(
            world.a.admin,
            title="Valueless",
            stage="mql",
            contact_id=(await new_contact(world.a.admin, email="zed@zenith.example"))["id"],
        ),
    }
    await new_lead(world.b.admin, title="Big deal in B", deal_value=99999)
    return leads


async def _scores(session, scores: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from agentconnect.models import Lead

    for lead_id, score in scores.items():
        await session.execute(update(Lead).where(Lead.id == uuid.UUID(lead_id)).values(score=score))
    await session.commit()


def titles(response: Any) -> list[str]:
    return [item["title"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stage": "sql"}, {"Mid deal"}),
        ({"stage": ["sql", "opportunity"]}, {"Mid deal", "Big deal"}),
        ({"min_value": 10000}, {"Big deal", "Mid deal", "Won deal"}),
        ({"max_value": 1000}, {"Small deal"}),
        ({"q": "BIG"}, {"Big deal"}),
        ({"q": "zenith"}, {"Valueless"}),
        (
            {"qualification_status": "pending"},
            {"Small deal", "Big deal", "Mid deal", "Won deal", "Valueless"},
        ),
        ({"qualification_status": "qualified"}, set()),
        (
            {"qualification_status": ["qualified", "pending"], "stage": ["lead", "sql"]},
            {"Small deal", "Mid deal"},
        ),
    ],
)
async def test_list_filters(
    world: World, pipeline: dict[str, Any], params: dict[str, Any], expected: set[str]
) -> None:
    response = await world.a.agent.get(LEADS, params=params)
    assert response.status_code == 200, response.text
    assert set(titles(response)) == expected
    assert response.json()["total"] == len(expected)


async def test_list_by_assignee_and_score_sorted(
    world: World, pipeline: dict[str, Any], session
) -> None:  # type: ignore[no-untyped-def]
    await _scores(session, {pipeline["big"]["id"]: 40, pipeline["mid"]["id"]: 80})
    agent = str(world.a.actors[Role.AGENT].user.id)
    response = await world.a.agent.get(
        LEADS, params={"assigned_to": agent, "sort": "-score", "min_score": 10}
    )
    assert titles(response) == ["Mid deal", "Big deal"]
    ranged = await world.a.agent.get(LEADS, params={"min_score": 50, "max_score": 90})
    assert titles(ranged) == ["Mid deal"]


async def test_list_filters_by_contact(world: World) -> None:
    contact = await new_contact(world.a.admin)
    first = await new_lead(world.a.admin, contact_id=contact["id"], title="First")
    second = await new_lead(world.a.admin, contact_id=contact["id"], title="Second")
    await new_lead(world.a.admin, title="Someone else's")
    response = await world.a.agent.get(LEADS, params={"contact_id": contact["id"]})
    assert response.status_code == 200, response.text
    assert {item["id"] for item in response.json()["items"]} == {first["id"], second["id"]}
    assert response.json()["total"] == 2
    # another company's contact: nothing, as for an unknown one
    other = await world.b.admin.get(LEADS, params={"contact_id": contact["id"]})
    assert other.json()["total"] == 0
    bad = await world.a.agent.get(LEADS, params={"contact_id": "not-an-id"})
    assert bad.status_code == 422


async def test_list_sorts_by_value_and_paginates(world: World, pipeline: dict[str, Any]) -> None:
    first = await world.a.agent.get(LEADS, params={"sort": "-deal_value", "limit": 2})
    assert titles(first) == ["Big deal", "Won deal"]
    assert first.json()["total"] == 5
    second = await world.a.agent.get(LEADS, params={"sort": "-deal_value", "limit": 2, "offset": 2})
    assert titles(second) == ["Mid deal", "Small deal"]
    assert second.json()["total"] == 5


async def test_list_reports_the_total_on_a_page_past_the_end(
    world: World, pipeline: dict[str, Any]
) -> None:
    past = await world.a.agent.get(LEADS, params={"limit": 2, "offset": 50})
    assert past.status_code == 200
    assert past.json()["items"] == []
    assert past.json()["total"] == 5
    nothing = await world.a.agent.get(LEADS, params={"stage": "lost", "min_score": 99})
    assert nothing.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize(
    "params",
    [
        {"stage": "won"},
        {"sort": "password"},
        {"min_score": -1},
        {"min_value": "lots"},
        {"assigned_to": "bob"},
        {"qualification_status": "maybe"},
        {"limit": 1000},
    ],
)
async def test_list_rejects_bad_parameters(world: World, params: dict[str, Any]) -> None:
    assert (await world.a.agent.get(LEADS, params=params)).status_code == 422


async def test_high_value_lists_open_leads_above_the_threshold(
    world: World, pipeline: dict[str, Any]
) -> None:
    default = await world.a.agent.get(f"{LEADS}/high-value")
    assert titles(default) == ["Big deal", "Mid deal"]  # the customer is not open
    custom = await world.a.agent.get(f"{LEADS}/high-value", params={"min_value": 400})
    assert titles(custom) == ["Big deal", "Mid deal", "Small deal"]
    assert (
        await world.a.agent.get(f"{LEADS}/high-value", params={"min_value": -5})
    ).status_code == 422


async def test_unassigned_lists_open_leads_without_owner(
    world: World, pipeline: dict[str, Any]
) -> None:
    response = await world.a.agent.get(f"{LEADS}/unassigned")
    assert set(titles(response)) == {"Small deal", "Valueless"}
