"""Stage rules and history, bulk stage changes, assignment strategies, stats and the kanban."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from agentconnect.models import Role
from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead, set_stage


async def history(client: Any, lead_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{LEADS}/{lead_id}/stage-history")
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- single stage changes ------------------------------------------------------------------------


async def test_stage_change_records_history_and_syncs_the_contact(world: World) -> None:
    lead = await new_lead(world.a.manager)
    response = await set_stage(world.a.manager, lead["id"], "mql", "downloaded the whitepaper")
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["stage"] == "mql"
    assert moved["previous_stage"] == "lead"
    assert moved["stage_changed_at"] > lead["stage_changed_at"]
    entries = await history(world.a.manager, lead["id"])
    assert [(e["from_stage"], e["to_stage"]) for e in entries] == [("lead", "mql"), (None, "lead")]
    newest = entries[0]
    assert newest["reason"] == "downloaded the whitepaper"
    assert newest["source"] == "manual"
    assert newest["changed_by"] == str(world.a.actors[Role.MANAGER].user.id)
    contact = (await world.a.admin.get(f"/api/v1/contacts/{lead['contact_id']}")).json()
    assert contact["lifecycle_stage"] == "mql"


async def test_lost_needs_a_reason_and_keeps_the_contact_stage(world: World) -> None:
    lead = await new_lead(world.a.admin, stage="sql")
    refused = await set_stage(world.a.admin, lead["id"], "lost")
    assert refused.status_code == 422
    assert "reason" in refused.json()["detail"]
    lost = await set_stage(world.a.admin, lead["id"], "lost", "went with a competitor")
    assert lost.json()["lost_reason"] == "went with a competitor"
    contact = (await world.a.admin.get(f"/api/v1/contacts/{lead['contact_id']}")).json()
    assert contact["lifecycle_stage"] == "sql"


@pytest.mark.parametrize("closed", ["customer", "lost"])
async def test_leaving_a_closed_stage_needs_a_reason(world: World, closed: str) -> None:
    lead = await new_lead(world.a.admin)
    await set_stage(world.a.admin, lead["id"], closed, "closing")
    refused = await set_stage(world.a.admin, lead["id"], "opportunity")
    assert refused.status_code == 409
    assert "reason" in refused.json()["detail"]
    assert len(await history(world.a.admin, lead["id"])) == 2
    reopened = await set_stage(world.a.admin, lead["id"], "opportunity", "budget came back")
    assert reopened.status_code == 200
    assert reopened.json()["lost_reason"] is None
    assert reopened.json()["previous_stage"] == closed


async def test_lost_to_lost_is_a_no_op_even_without_a_reason(world: World) -> None:
    lead = await new_lead(world.a.admin)
    await set_stage(world.a.admin, lead["id"], "lost", "no budget")
    again = await set_stage(world.a.admin, lead["id"], "lost")
    assert again.status_code == 200
    assert again.json()["lost_reason"] == "no budget"
    assert len(await history(world.a.admin, lead["id"])) == 2


async def test_same_stage_is_a_no_op(world: World) -> None:
    lead = await new_lead(world.a.admin, stage="sql")
    response = await set_stage(world.a.admin, lead["id"], "sql")
    assert response.status_code == 200
    assert response.json()["previous_stage"] is None
    assert len(await history(world.a.admin, lead["id"])) == 1


@pytest.mark.parametrize(
    "body", [{}, {"stage": "won"}, {"stage": None}, {"stage": "mql", "reason": ""}, []]
)
async def test_stage_change_validation(world: World, body: Any) -> None:
    lead = await new_lead(world.a.admin)
    response = await world.a.admin.put(f"{LEADS}/{lead['id']}/stage", json=body)
    assert response.status_code == 422


async def test_agent_moves_its_own_lead(world: World) -> None:
    lead = await new_lead(world.a.agent)
    response = await set_stage(world.a.agent, lead["id"], "sql")
    assert response.status_code == 200
    assert (await history(world.a.agent, lead["id"]))[0]["changed_by"] == str(
        world.a.actors[Role.AGENT].user.id
    )


# --- bulk stage changes --------------------------------------------------------------------------


async def test_bulk_stage_changes_history_and_contacts(world: World) -> None:
    leads = [await new_lead(world.a.admin) for _ in range(3)]
    already = await new_lead(world.a.admin, stage="sql")
    won = await new_lead(world.a.admin)
    await set_stage(world.a.admin, won["id"], "customer", "signed")
    theirs = await new_lead(world.b.admin)
    missing = str(uuid.uuid4())
    ids = [lead["id"] for lead in leads] + [already["id"], won["id"], theirs["id"], missing]

    response = await world.a.manager.post(
        f"{LEADS}/bulk-stage", json={"lead_ids": ids, "stage": "sql"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["updated"] == 3
    assert body["unchanged"] == 1
    assert set(body["not_found"]) == {theirs["id"], missing}
    assert [r["lead_id"] for r in body["refused"]] == [won["id"]]

    for lead in leads:
        entry = (await history(world.a.admin, lead["id"]))[0]
        assert (entry["from_stage"], entry["to_stage"], entry["source"]) == ("lead", "sql", "bulk")
        contact = (await world.a.admin.get(f"/api/v1/contacts/{lead['contact_id']}")).json()
        assert contact["lifecycle_stage"] == "sql"
    assert (await world.a.admin.get(f"{LEADS}/{won['id']}")).json()["stage"] == "customer"
    assert (await world.b.admin.get(f"{LEADS}/{theirs['id']}")).json()["stage"] == "lead"
    assert len(await history(world.b.admin, theirs["id"])) == 1


async def test_bulk_stage_to_lost_needs_a_reason(world: World) -> None:
    lead = await new_lead(world.a.admin)
    body = {"lead_ids": [lead["id"]], "stage": "lost"}
    assert (await world.a.admin.post(f"{LEADS}/bulk-stage", json=body)).status_code == 422
    body["reason"] = "campaign cancelled"
    response = await world.a.admin.post(f"{LEADS}/bulk-stage", json=body)
    assert response.json()["updated"] == 1
    assert (await world.a.admin.get(f"{LEADS}/{lead['id']}")).json()["lost_reason"] == (
        "campaign cancelled"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"lead_ids": [], "stage": "sql"},
        {"lead_ids": ["x"], "stage": "sql"},
        {"lead_ids": [str(uuid.uuid4())], "stage": "won"},
        {"lead_ids": [str(uuid.uuid4())] * 10_001, "stage": "sql"},
        {"stage": "sql"},
    ],
)
async def test_bulk_stage_validation(world: World, body: dict[str, Any]) -> None:
    assert (await world.a.admin.post(f"{LEADS}/bulk-stage", json=body)).status_code == 422


async def test_bulk_endpoints_refuse_agents(world: World) -> None:
    lead = await new_lead(world.a.agent)
    agent = str(world.a.actors[Role.AGENT].user.id)
    stage = await world.a.agent.post(
        f"{LEADS}/bulk-stage", json={"lead_ids": [lead["id"]], "stage": "sql"}
    )
    assign = await world.a.agent.post(
        f"{LEADS}/bulk-assign", json={"lead_ids": [lead["id"]], "user_ids": [agent]}
    )
    single = await world.a.agent.put(f"{LEADS}/{lead['id']}/assign", json={"user_id": None})
    assert (stage.status_code, assign.status_code, single.status_code) == (403, 403, 403)


# --- assignment -----------------------------------------------------------------------------------


async def test_assign_and_unassign(world: World) -> None:
    lead = await new_lead(world.a.admin)
    agent = str(world.a.actors[Role.AGENT].user.id)
    assigned = await world.a.manager.put(f"{LEADS}/{lead['id']}/assign", json={"user_id": agent})
    assert assigned.json()["assigned_to"] == agent
    cleared = await world.a.manager.put(f"{LEADS}/{lead['id']}/assign", json={"user_id": None})
    assert cleared.json()["assigned_to"] is None


async def test_assign_to_unknown_or_foreign_user_is_404(world: World) -> None:
    lead = await new_lead(world.a.admin)
    foreign = str(world.b.actors[Role.AGENT].user.id)
    for user_id in (foreign, str(uuid.uuid4())):
        response = await world.a.admin.put(
            f"{LEADS}/{lead['id']}/assign", json={"user_id": user_id}
        )
        assert response.status_code == 404
    assert (await world.a.admin.put(f"{LEADS}/{lead['id']}/assign", json={})).status_code == 422
    assert (await world.a.admin.get(f"{LEADS}/{lead['id']}")).json()["assigned_to"] is None


async def test_bulk_assign_single(world: World) -> None:
    leads = [await new_lead(world.a.admin) for _ in range(3)]
    theirs = await new_lead(world.b.admin)
    agent = str(world.a.actors[Role.AGENT].user.id)
    response = await world.a.admin.post(
        f"{LEADS}/bulk-assign",
        json={
            "lead_ids": [x["id"] for x in leads] + [theirs["id"]],
            "user_ids": [agent],
            "strategy": "single",
        },
    )
    body = response.json()
    assert body["updated"] == 3
    assert body["not_found"] == [theirs["id"]]
    assert body["assignments"] == {agent: 3}
    repeat = await world.a.admin.post(
        f"{LEADS}/bulk-assign",
        json={"lead_ids": [leads[0]["id"]], "user_ids": [agent], "strategy": "single"},
    )
    assert (repeat.json()["updated"], repeat.json()["unchanged"]) == (0, 1)
    assert (await world.b.admin.get(f"{LEADS}/{theirs['id']}")).json()["assigned_to"] is None
    two_users = await world.a.admin.post(
        f"{LEADS}/bulk-assign",
        json={
            "lead_ids": [leads[0]["id"]],
            "user_ids": [agent, str(uuid.uuid4())],
            "strategy": "single",
        },
    )
    assert two_users.status_code == 422
    assert "exactly one" in two_users.json()["detail"]


async def test_round_robin_stays_fair_across_calls(world: World) -> None:
    users = sorted(str(world.a.actors[r].user.id) for r in (Role.MANAGER, Role.AGENT, Role.ADMIN))
    counts = dict.fromkeys(users, 0)
    for batch_size in (2, 1, 4, 2):  # 9 leads in calls that do not divide evenly
        batch = [await new_lead(world.a.admin) for _ in range(batch_size)]
        response = await world.a.manager.post(
            f"{LEADS}/bulk-assign",
            json={
                "lead_ids": [x["id"] for x in batch],
                "user_ids": list(reversed(users)),
                "strategy": "round_robin",
            },
        )
        assert response.status_code == 200, response.text
        for user, given in response.json()["assignments"].items():
            counts[user] += given
    assert sorted(counts.values()) == [3, 3, 3]


async def test_least_loaded_fills_the_emptiest_first(world: World) -> None:
    manager = str(world.a.actors[Role.MANAGER].user.id)
    agent = str(world.a.actors[Role.AGENT].user.id)
    for _ in range(3):
        await new_lead(world.a.admin, assigned_to=manager)
    closed = await new_lead(world.a.admin, assigned_to=agent)
    await set_stage(world.a.admin, closed["id"], "customer", "won")  # closed leads are no load
    batch = [await new_lead(world.a.admin) for _ in range(5)]
    response = await world.a.admin.post(
        f"{LEADS}/bulk-assign",
        json={
            "lead_ids": [x["id"] for x in batch],
            "user_ids": [manager, agent],
            "strategy": "least_loaded",
        },
    )
    assert response.json()["assignments"] == {agent: 4, manager: 1}


async def test_bulk_assign_refuses_foreign_users_and_bad_strategies(world: World) -> None:
    lead = await new_lead(world.a.admin)
    foreign = str(world.b.actors[Role.AGENT].user.id)
    response = await world.a.admin.post(
        f"{LEADS}/bulk-assign", json={"lead_ids": [lead["id"]], "user_ids": [foreign]}
    )
    assert response.status_code == 404
    bad = await world.a.admin.post(
        f"{LEADS}/bulk-assign",
        json={"lead_ids": [lead["id"]], "user_ids": [foreign], "strategy": "random"},
    )
    assert bad.status_code == 422


# --- stats and kanban -----------------------------------------------------------------------------


async def test_stats_on_an_empty_pipeline(world: World) -> None:
    body = (await world.a.agent.get(f"{LEADS}/stats")).json()
    assert body["total_leads"] == 0
    assert body["win_rate"] is None
    assert body["average_score"] is None
    assert [s["count"] for s in body["stages"]] == [0] * 6


async def test_stats_figures(world: World, session) -> None:  # type: ignore[no-untyped-def]
    await world.a.admin.patch(
        "/api/v1/company", json={"stage_probabilities": {"opportunity": "0.5"}}
    )
    plan = [("lead", 1000), ("mql", 2000), ("opportunity", 10000), ("opportunity", 30000)]
    for stage, value in plan:
        await new_lead(world.a.admin, stage=stage, deal_value=value)
    walked = await new_lead(world.a.admin, deal_value=5000)
    for stage in ("mql", "sql", "opportunity", "customer"):
        await set_stage(world.a.admin, walked["id"], stage, "progress")
    lost = await new_lead(world.a.admin, deal_value=7000)
    await set_stage(world.a.admin, lost["id"], "mql", None)
    await set_stage(world.a.admin, lost["id"], "lost", "no budget")
    await new_lead(world.b.admin, deal_value=999999)

    body = (await world.a.agent.get(f"{LEADS}/stats")).json()
    stages = {s["stage"]: s for s in body["stages"]}
    assert body["total_leads"] == 6
    assert body["open_leads"] == 4
    assert stages["opportunity"]["count"] == 2
    assert stages["opportunity"]["value"] == "40000.00"
    assert stages["opportunity"]["weighted_value"] == "20000.00"
    assert body["total_pipeline_value"] == "43000.00"
    expected_weighted = (
        Decimal("1000") * Decimal("0.10") + Decimal("2000") * Decimal("0.20") + 20000
    )
    assert Decimal(body["weighted_pipeline_value"]) == expected_weighted
    assert body["won_value"] == "5000.00"
    assert body["win_rate"] == 0.5
    assert body["average_score"] == 0
    rates = {(c["from_stage"], c["to_stage"]): c for c in body["conversion_rates"]}
    # reached lead: the 1000 lead, the walker, the lost one; mql: 2000, walker, lost
    assert rates[("lead", "mql")]["reached_from"] == 3
    assert rates[("lead", "mql")]["reached_to"] == 2
    assert rates[("opportunity", "customer")]["reached_from"] == 3
    assert rates[("opportunity", "customer")]["rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert stages["mql"]["average_days_in_stage"] is not None
    assert stages["mql"]["average_days_in_stage"] >= 0


async def test_kanban_columns(world: World, session) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from agentconnect.models import Lead

    made = [await new_lead(world.a.admin, title=f"L{i}", deal_value=100) for i in range(4)]
    for i, lead in enumerate(made):
        await session.execute(
            update(Lead).where(Lead.id == uuid.UUID(lead["id"])).values(score=i * 10)
        )
    await session.commit()
    await new_lead(world.a.admin, title="S", stage="sql")
    await new_lead(world.b.admin, title="B")
    response = await world.a.agent.get(f"{LEADS}/by-stage", params={"per_stage": 2})
    assert response.status_code == 200
    columns = {c["stage"]: c for c in response.json()["columns"]}
    assert list(columns) == ["lead", "mql", "sql", "opportunity", "customer", "lost"]
    assert columns["lead"]["count"] == 4
    assert columns["lead"]["value"] == "400.00"
    assert [card["title"] for card in columns["lead"]["leads"]] == ["L3", "L2"]
    assert [card["title"] for card in columns["sql"]["leads"]] == ["S"]
    assert columns["mql"]["leads"] == []
    assert (
        await world.a.agent.get(f"{LEADS}/by-stage", params={"per_stage": 0})
    ).status_code == 422


async def test_kanban_counts_and_cards_follow_the_filters(world: World, session) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from agentconnect.models import Lead

    agent = str(world.a.actors[Role.AGENT].user.id)
    mine = [await new_lead(world.a.admin, title=f"Mine {i}", deal_value=10, assigned_to=agent)
            for i in range(3)]  # fmt: skip
    await new_lead(world.a.admin, title="Theirs", deal_value=500)
    await new_lead(world.a.admin, title="Mine sql", stage="sql", assigned_to=agent)
    for i, lead in enumerate(mine):
        await session.execute(
            update(Lead).where(Lead.id == uuid.UUID(lead["id"])).values(score=30 * i)
        )
    await session.commit()

    board = await world.a.manager.get(
        f"{LEADS}/by-stage", params={"assigned_to": agent, "min_score": 30, "per_stage": 5}
    )
    assert board.status_code == 200, board.text
    columns = {c["stage"]: c for c in board.json()["columns"]}
    assert columns["lead"]["count"] == 2
    assert columns["lead"]["value"] == "20.00"
    assert [card["title"] for card in columns["lead"]["leads"]] == ["Mine 2", "Mine 1"]
    assert columns["sql"]["count"] == 0  # its score is 0

    searched = await world.a.manager.get(f"{LEADS}/by-stage", params={"q": "theirs"})
    columns = {c["stage"]: c for c in searched.json()["columns"]}
    assert [card["title"] for card in columns["lead"]["leads"]] == ["Theirs"]
    assert sum(c["count"] for c in columns.values()) == 1

    refused = await world.a.manager.get(f"{LEADS}/by-stage", params={"min_score": 101})
    assert refused.status_code == 422


async def test_contact_of_a_new_lead_gets_lifecycle(world: World) -> None:
    contact = await new_contact(world.a.admin, lifecycle_stage="subscriber")
    await new_lead(world.a.admin, contact_id=contact["id"], stage="opportunity")
    now = (await world.a.admin.get(f"/api/v1/contacts/{contact['id']}")).json()
    assert now["lifecycle_stage"] == "opportunity"
