"""The funnel, figure by figure, for a small campaign whose every number is counted by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from agentconnect.analytics import service as analytics
from agentconnect.auth.principal import Principal
from agentconnect.db import Database
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.delivery.sender import SenderSettings
from agentconnect.models import Role
from tests.analytics.conftest import insert_activities
from tests.campaigns.conftest import CAMPAIGNS, contact, email_step, new_campaign
from tests.fixtures.world import World


async def test_a_small_campaigns_funnel(world: World, database: Database, app: Any) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"], delay_value=0, delay_unit="minutes")
    people = [
        (await contact(world.a.admin, email=f"f{n}@x.example", first_name=f"F{n}"))["id"]
        for n in range(5)
    ]
    people.append((await contact(world.a.admin, first_name="NoEmail"))["id"])  # skipped
    enrolled = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": people}
    )
    assert enrolled.status_code == 200
    assert enrolled.json()["enrolled"] == 5  # no address for the sixth: not enrolled
    assert (await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")).status_code == 200
    engine = Engine(
        database,
        EngineSettings(base_url="http://crm.test", secret_key=app.state.secret_key),
        SenderSettings(worker_id="funnel", batch_size=100, concurrency=2),
    )
    assert (await engine.tick(datetime.now(UTC))).sent.sent == 5

    # engagement, by hand: f0 opens twice and clicks and replies; f1 opens; f2's only open
    # was prefetched by its mail server; f3 bounced
    now = datetime.now(UTC)
    company, cid = str(world.a.id), campaign["id"]

    def act(n: int, kind: str, **metadata: Any) -> dict[str, Any]:
        return {"company_id": company, "campaign_id": cid, "contact_id": people[n],
                "activity_type": kind, "occurred_at": now, "metadata": metadata}  # fmt: skip

    await insert_activities(
        database,
        [
            act(0, "email_opened"),
            act(0, "email_opened"),
            act(0, "email_clicked"),
            act(0, "email_replied"),
            act(1, "email_opened"),
            act(2, "email_opened", prefetched=True),
            act(3, "email_bounced"),
        ],
    )
    # f0 became a customer after the campaign's e-mail
    lead = await world.a.manager.post(
        "/api/v1/leads", json={"contact_id": people[0], "title": "F0"}
    )
    assert lead.status_code == 201, lead.text
    won = await world.a.manager.put(
        f"/api/v1/leads/{lead.json()['id']}/stage", json={"stage": "customer"}
    )
    assert won.status_code == 200, won.text

    response = await world.a.agent.get(f"{CAMPAIGNS}/{cid}/funnel")

    assert response.status_code == 200, response.text
    stages = {s["stage"]: s for s in response.json()["stages"]}
    assert [s["stage"] for s in response.json()["stages"]] == [
        "enrolled", "sent", "delivered", "opened", "clicked", "replied", "converted",
    ]  # fmt: skip
    expected = {  # contacts, rate from the previous stage, rate from enrolled
        "enrolled": (5, None, 1.0),
        "sent": (5, 1.0, 1.0),
        "delivered": (4, 0.8, 0.8),  # 5 accepted, 1 bounced
        "opened": (2, 0.5, 0.4),  # f0 and f1; f2's prefetched open is no open
        "clicked": (1, 0.5, 0.2),
        "replied": (1, 1.0, 0.2),
        "converted": (1, 1.0, 0.2),
    }
    for name, (contacts, from_previous, from_start) in expected.items():
        stage = stages[name]
        assert (stage["contacts"], stage["rate_from_previous"], stage["rate_from_start"]) == (
            contacts, from_previous, from_start,
        ), name  # fmt: skip

    # Several funnels at once (the dashboard's campaign list) are each the same as alone.
    empty = await new_campaign(world.a.manager)
    principal = Principal(company_id=world.a.id, role=Role.AGENT)
    async with database.unit_of_work() as session:
        both = await analytics.funnels(session, principal, [uuid.UUID(empty["id"]), uuid.UUID(cid)])
    assert both[1].model_dump(mode="json") == response.json()
    assert [s.contacts for s in both[0].stages] == [0] * 7


async def test_a_campaign_with_nothing_sent_has_no_division_by_zero(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    response = await world.a.agent.get(f"{CAMPAIGNS}/{campaign['id']}/funnel")
    assert response.status_code == 200
    for stage in response.json()["stages"]:
        assert stage["contacts"] == 0
        assert stage["rate_from_start"] is None


async def test_another_companys_funnel_is_not_found(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    assert (await world.b.manager.get(f"{CAMPAIGNS}/{campaign['id']}/funnel")).status_code == 404
