"""A campaign from draft to active, end to end."""

from __future__ import annotations

from tests.campaigns.conftest import CAMPAIGNS, contact, email_step, new_campaign
from tests.fixtures.world import World


async def test_draft_to_active_with_enrollment(world: World) -> None:
    campaign = await new_campaign(world.a.manager, target_criteria={"tags_any": ["vip"]})
    step = await email_step(world.a.manager, campaign["id"], delay_value=2, delay_unit="hours")
    vip = await contact(world.a.admin, first_name="Vera", email="vera@x.example", tags=["vip"])
    await contact(world.a.admin, first_name="Nope", email="nope@x.example", tags=["other"])
    preview = await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/targeting/preview")
    assert preview.status_code == 200, preview.text
    assert preview.json()["total"] == 1
    started = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "active"
    assert started.json()["enrollment_counts"] == {"active": 1}
    enrollments = (await world.a.agent.get(f"{CAMPAIGNS}/{campaign['id']}/contacts")).json()
    assert enrollments["items"][0]["contact"]["id"] == vip["id"]
    assert enrollments["items"][0]["current_step"] == step["sequence_order"]
    timeline = (await world.a.agent.get(f"/api/v1/contacts/{vip['id']}/activities")).json()
    assert [a["activity_type"] for a in timeline["items"]] == ["enrolled"]
    sent = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "me@x.example", "contact_id": vip["id"]},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["subject"] == "Hello Vera"
    outbox = (await world.a.manager.get("/api/v1/channels/console/messages")).json()
    assert outbox["items"][0]["to_address"] == "me@x.example"
