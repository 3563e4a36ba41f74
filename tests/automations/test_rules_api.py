"""The automation rule API: CRUD for admins and managers, validation, roles, tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.models import Role, User
from tests.automations.conftest import AUTOMATIONS, new_rule
from tests.campaigns.conftest import new_campaign
from tests.fixtures.world import World

TAG_HOT = [{"type": "add_tag", "tag": "hot"}]


async def test_crud(world: World) -> None:
    rule = await new_rule(
        world.a.manager,
        {"type": "lead_stage_changed", "to_stage": "mql"},
        TAG_HOT,
        [{"type": "score_at_least", "score": 40}],
        name="MQLs are hot",
    )
    assert rule["trigger"] == {"type": "lead_stage_changed", "to_stage": "mql", "direction": "up"}
    path = f"{AUTOMATIONS}/{rule['id']}"
    assert (await world.a.admin.get(path)).json()["name"] == "MQLs are hot"
    assert (await world.a.agent.get(AUTOMATIONS)).status_code == 403
    listed = (await world.a.admin.get(AUTOMATIONS)).json()
    assert listed["total"] == 1
    off = await world.a.manager.patch(path, json={"enabled": False})
    assert off.status_code == 200
    assert off.json()["enabled"] is False
    renamed = await world.a.manager.patch(
        path, json={"trigger": {"type": "lead_qualified"}, "conditions": []}
    )
    assert renamed.json()["trigger"]["type"] == "lead_qualified"
    assert renamed.json()["conditions"] == []
    assert (await world.a.manager.delete(path)).status_code == 204
    assert (await world.a.manager.get(path)).status_code == 404


async def test_agents_are_refused(world: World) -> None:
    rule = await new_rule(world.a.admin, {"type": "contact_created"}, TAG_HOT)
    agent = world.a.agent
    response = await agent.post(
        AUTOMATIONS, json={"name": "x", "trigger": {"type": "contact_created"}, "actions": TAG_HOT}
    )
    assert response.status_code == 403
    for method, path in (
        ("GET", f"{AUTOMATIONS}/{rule['id']}"),
        ("PATCH", f"{AUTOMATIONS}/{rule['id']}"),
        ("DELETE", f"{AUTOMATIONS}/{rule['id']}"),
        ("GET", f"{AUTOMATIONS}/{rule['id']}/runs"),
    ):
        kwargs: dict[str, Any] = {"json": {"enabled": False}} if method == "PATCH" else {}
        assert (await agent.request(method, path, **kwargs)).status_code == 403


async def test_another_companys_rule_is_404(world: World) -> None:
    rule = await new_rule(world.a.admin, {"type": "contact_created"}, TAG_HOT)
    path = f"{AUTOMATIONS}/{rule['id']}"
    b = world.b.admin
    assert (await b.get(path)).status_code == 404
    assert (await b.patch(path, json={"enabled": False})).status_code == 404
    assert (await b.delete(path)).status_code == 404
    assert (await b.get(f"{path}/runs")).status_code == 404
    assert (await b.get(AUTOMATIONS)).json()["total"] == 0


@pytest.mark.parametrize(
    ("trigger", "actions", "conditions"),
    [
        ({"type": "lead_exploded"}, TAG_HOT, []),
        ({"type": "score_crossed"}, TAG_HOT, []),
        ({"type": "activity_recorded"}, TAG_HOT, []),
        ({"type": "activity_recorded", "activity": "sneeze"}, TAG_HOT, []),
        ({"type": "contact_created", "to_stage": "mql"}, TAG_HOT, []),
        ({"type": "contact_created"}, [], []),
        ({"type": "contact_created"}, [{"type": "set_stage"}], []),
        ({"type": "contact_created"}, [{"type": "set_stage", "stage": "lost"}], []),
        ({"type": "contact_created"}, [{"type": "add_tag", "tag": "x", "stage": "mql"}], []),
        ({"type": "contact_created"}, [{"type": "teleport"}], []),
        (
            {"type": "contact_created"},
            [{"type": "set_field", "target": "lead", "field": "password", "value": 1}],
            [],
        ),
        (
            {"type": "contact_created"},
            [{"type": "set_field", "target": "lead", "field": "deal_value", "value": "lots"}],
            [],
        ),
        ({"type": "contact_created"}, TAG_HOT, [{"type": "stage_in"}]),
        ({"type": "contact_created"}, TAG_HOT, [{"type": "score_at_least", "score": 101}]),
        ({"type": "contact_created"}, TAG_HOT, [{"type": "channel_is", "channel": "fax"}]),
    ],
)
async def test_bad_rules_are_422(
    world: World,
    trigger: dict[str, Any],
    actions: list[dict[str, Any]],
    conditions: list[dict[str, Any]],
) -> None:
    body = {"name": "bad", "trigger": trigger, "actions": actions, "conditions": conditions}
    response = await world.a.manager.post(AUTOMATIONS, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_rule_may_not_name_another_companys_campaign_or_user(world: World) -> None:
    theirs = await new_campaign(world.b.admin)
    response = await world.a.manager.post(
        AUTOMATIONS,
        json={
            "name": "x",
            "trigger": {"type": "contact_created"},
            "actions": [
                {"type": "enroll", "campaign_id": theirs["id"]},
                {
                    "type": "assign_round_robin",
                    "user_ids": [str(world.b.actors[Role.AGENT].user.id)],
                },
            ],
        },
    )
    assert response.status_code == 422, response.text
    locs = [e["loc"] for e in response.json()["errors"]]
    assert ["body", "actions", 0, "campaign_id"] in locs
    assert ["body", "actions", 1, "user_ids"] in locs


async def test_a_rule_may_assign_only_to_active_users_of_the_company(
    world: World, session: AsyncSession
) -> None:
    agent = world.a.actors[Role.AGENT].user.id
    manager = world.a.actors[Role.MANAGER].user.id
    mine = await new_campaign(world.a.admin)
    rule = {
        "name": "share",
        "trigger": {"type": "contact_created"},
        "actions": [
            {"type": "enroll", "campaign_id": mine["id"]},
            {"type": "assign_round_robin", "user_ids": [str(agent), str(manager)]},
        ],
    }
    assert (await world.a.manager.post(AUTOMATIONS, json=rule)).status_code == 201
    await session.execute(update(User).where(User.id == agent).values(is_active=False))
    await session.commit()
    refused = await world.a.manager.post(AUTOMATIONS, json=rule)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"loc": ["body", "actions", 1, "user_ids"], "msg": f"no active user {agent}",
         "type": "value_error"}
    ]  # fmt: skip
