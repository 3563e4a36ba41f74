"""Campaigns in the dashboard: the builder, targeting preview, lifecycle and its role rule,
test-send into the outbox, and the analytics page with data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from agentconnect.db import Database
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.delivery.sender import SenderSettings
from tests.analytics.conftest import insert_activities
from tests.campaigns.conftest import CAMPAIGNS, contact, email_step, new_campaign
from tests.fixtures.world import World
from tests.web.conftest import SignIn

NEW = {
    "name": "Webinar follow-up",
    "campaign_type": "email",
    "goal_type": "reply",
    "timezone": "Europe/Berlin",
    "quiet_start": "08:00",
    "quiet_end": "20:00",
    "cost": "50",
    "lifecycle_stages": ["lead"],
    "tags_any": "webinar, vip",
}


def _campaign_id(location: str) -> str:
    found = re.search(r"/app/campaigns/([0-9a-f-]{36})", location)
    assert found, location
    return found.group(1)


def _json_block(html: str, element_id: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html)
    assert found, element_id
    return json.loads(found.group(1))


async def _people(world: World, n: int, tag: str = "webinar") -> list[str]:
    return [
        (await contact(world.a.admin, email=f"w{i}@x.example", first_name=f"W{i}",
                       tags=[tag], lifecycle_stage="lead"))["id"]
        for i in range(n)
    ]  # fmt: skip


async def test_build_target_and_start_a_campaign(world: World, signed_in: SignIn) -> None:
    await _people(world, 3)
    await contact(world.a.admin, email="other@x.example", tags=["other"])
    client = await signed_in("manager@company-a.example")
    form = await client.get("/app/campaigns/new")
    assert 'name="campaign_type"' in form.text
    created = await client.post("/app/campaigns/new", data=NEW)
    assert created.status_code == 303, created.text
    cid = _campaign_id(created.headers["location"])
    api = (await world.a.manager.get(f"{CAMPAIGNS}/{cid}")).json()
    assert api["status"] == "draft"
    assert api["quiet_hours"] == {"start": "08:00", "end": "20:00"}
    assert api["target_criteria"] == {"lifecycle_stages": ["lead"], "tags_any": ["webinar", "vip"]}

    page = (await client.get(f"/app/campaigns/{cid}")).text
    assert "<strong data-preview-total>3</strong>" in page
    assert "{{first_name}}" in page  # token help
    # the live preview answers for criteria not saved yet
    preview = await client.post(
        f"/app/campaigns/{cid}/preview", data={"tags_any": "other"}, headers={"HX-Request": "true"}
    )
    assert "<strong data-preview-total>1</strong>" in preview.text
    refused = await client.post(
        f"/app/campaigns/{cid}/preview", data={"min_score": "90", "max_score": "10"}
    )
    assert "min_score is greater than max_score" in refused.text

    # an e-mail step without a subject is refused on the builder, with what was typed
    bad = await client.post(f"/app/campaigns/{cid}/steps", data={"body": "Hello {{first_name}}"})
    assert bad.status_code == 422
    assert "subject" in bad.text
    assert "Hello {{first_name}}" in bad.text
    step = await client.post(
        f"/app/campaigns/{cid}/steps",
        data={
            "message_type": "email", "delay_value": "0", "delay_unit": "minutes",
            "subject": "Thanks {{first_name|there}}", "body": "Slides: https://x.example",
            "window_start": "09:00", "window_end": "17:00",
            "window_days": ["0", "1", "2", "3", "4"],
            "variant_name_1": "A", "variant_subject_1": "Slides inside",
            "variant_name_2": "B", "variant_weight_2": "2", "variant_subject_2": "Your slides",
        },
    )  # fmt: skip
    assert step.status_code == 303, step.text
    [saved] = (await world.a.manager.get(f"{CAMPAIGNS}/{cid}/messages")).json()
    assert saved["send_window"] == {"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4]}
    assert [(v["name"], v["weight"]) for v in saved["variants"]] == [("A", 1), ("B", 2)]

    # editing sends the whole step: emptied fields are cleared
    edit_form = (await client.get(f"/app/campaigns/{cid}")).text
    assert 'id="step-form-1"' in edit_form
    assert 'value="Your slides"' in edit_form
    edited = await client.post(
        f"/app/campaigns/{cid}/steps/{saved['id']}",
        data={
            "message_type": "email", "delay_value": "0", "delay_unit": "minutes",
            "subject": "Thanks again", "body": "Slides: https://x.example",
            "variant_name_1": "A", "variant_subject_1": "Slides inside",
        },
    )  # fmt: skip
    assert edited.status_code == 303, edited.text
    [saved] = (await world.a.manager.get(f"{CAMPAIGNS}/{cid}/messages")).json()
    assert saved["subject"] == "Thanks again"
    assert saved["send_window"] is None
    assert [v["name"] for v in saved["variants"]] == ["A"]
    refused = await client.post(
        f"/app/campaigns/{cid}/steps/{saved['id']}", data={"delay_value": "0", "body": "x"}
    )
    assert refused.status_code == 422  # an e-mail step needs a subject

    started = await client.post(f"/app/campaigns/{cid}/start")
    assert started.status_code == 303
    assert started.headers["location"].endswith("notice=started")
    api = (await world.a.manager.get(f"{CAMPAIGNS}/{cid}")).json()
    assert api["status"] == "active"
    assert api["enrollment_counts"] == {"active": 3}
    assert (
        'Enrolled contacts <span class="muted">(3)</span>'
        in (await client.get(f"/app/campaigns/{cid}")).text
    )
    again = await client.post(f"/app/campaigns/{cid}/start")
    assert again.status_code == 409
    assert "cannot start a campaign that is active" in again.text

    listing = (await client.get("/app/campaigns")).text
    assert "Webinar follow-up" in listing
    assert "status-active" in listing
    paused = await client.post(f"/app/campaigns/{cid}/pause")
    assert paused.headers["location"].endswith("notice=paused")
    assert (await client.post(f"/app/campaigns/{cid}/resume")).status_code == 303
    clone = await client.post(f"/app/campaigns/{cid}/clone")
    copy_id = _campaign_id(clone.headers["location"])
    copy = (await world.a.manager.get(f"{CAMPAIGNS}/{copy_id}")).json()
    assert copy["name"] == "Copy of Webinar follow-up"
    assert copy["status"] == "draft"
    assert copy["message_count"] == 1


async def test_a_campaign_without_steps_cannot_start_and_says_why(
    world: World, signed_in: SignIn
) -> None:
    created = await new_campaign(world.a.manager)
    client = await signed_in("admin@company-a.example")
    response = await client.post(f"/app/campaigns/{created['id']}/start")
    assert response.status_code == 409
    assert "without steps" in response.text


async def test_an_agent_sees_no_start_button_and_the_server_refuses(
    world: World, signed_in: SignIn
) -> None:
    await _people(world, 2)
    created = await new_campaign(world.a.manager, target_criteria={"tags_any": ["webinar"]})
    await email_step(world.a.manager, created["id"])
    agent = await signed_in("agent@company-a.example")
    page = (await agent.get(f"/app/campaigns/{created['id']}")).text
    assert 'id="start"' not in page
    assert "/start" not in page
    assert 'action="/app/campaigns/new"' not in (await agent.get("/app/campaigns/new")).text
    refused = await agent.post(f"/app/campaigns/{created['id']}/start")
    assert refused.status_code == 403
    assert "needs the manager role" in refused.text
    assert (await agent.post("/app/campaigns/new", data=NEW)).status_code == 403
    assert (await agent.post(f"/app/campaigns/{created['id']}/clone")).status_code == 403
    api = (await world.a.manager.get(f"{CAMPAIGNS}/{created['id']}")).json()
    assert api["status"] == "draft"
    manager = await signed_in("manager@company-a.example")
    assert 'id="start"' in (await manager.get(f"/app/campaigns/{created['id']}")).text


async def test_another_companys_campaign_is_a_404(world: World, signed_in: SignIn) -> None:
    theirs = await new_campaign(world.b.manager, name="B's plan")
    client = await signed_in("admin@company-a.example")
    for method, path in (
        ("GET", f"/app/campaigns/{theirs['id']}"),
        ("GET", f"/app/campaigns/{theirs['id']}/analytics"),
        ("POST", f"/app/campaigns/{theirs['id']}/start"),
        ("POST", f"/app/campaigns/{theirs['id']}/clone"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 404, (path, response.status_code)
        assert "B&#39;s plan" not in response.text
    listing = (await client.get("/app/campaigns")).text
    assert "B&#39;s plan" not in listing


async def test_test_send_lands_in_the_outbox(world: World, signed_in: SignIn) -> None:
    created = await new_campaign(world.a.manager)
    step = await email_step(world.a.manager, created["id"])
    client = await signed_in("manager@company-a.example")
    sent = await client.post(
        f"/app/campaigns/{created['id']}/test-send",
        data={"message_id": step["id"], "to": "me@inbox.example"},
    )
    assert sent.status_code == 200, sent.text
    assert 'id="test-result"' in sent.text
    assert "Hello Alex" in sent.text  # rendered with sample data
    outbox = (await client.get("/app/outbox")).text
    assert "me@inbox.example" in outbox
    assert "Hello Alex" in outbox
    bad = await client.post(
        f"/app/campaigns/{created['id']}/test-send",
        data={"message_id": step["id"], "to": "not an address"},
    )
    assert bad.status_code == 422
    agent = await signed_in("agent@company-a.example")
    assert (await agent.get("/app/outbox")).status_code == 403


async def test_the_analytics_page_shows_funnel_series_ab_and_roi(
    world: World, signed_in: SignIn, database: Database, app: Any
) -> None:
    # thirty contacts: both variants are drawn (one only: a chance of 2 in 10^9)
    people = await _people(world, 30)
    created = await new_campaign(world.a.manager, cost="100.00")
    await email_step(
        world.a.manager, created["id"], delay_value=0, delay_unit="minutes",
        variants=[{"name": "A", "subject": "Hi A"}, {"name": "B", "subject": "Hi B"}],
    )  # fmt: skip
    cid = created["id"]
    await world.a.manager.post(f"{CAMPAIGNS}/{cid}/enroll", json={"contact_ids": people})
    assert (await world.a.manager.post(f"{CAMPAIGNS}/{cid}/start")).status_code == 200
    engine = Engine(
        database,
        EngineSettings(base_url="http://crm.test", secret_key=app.state.secret_key),
        SenderSettings(worker_id="web", batch_size=100, concurrency=2),
    )
    assert (await engine.tick(datetime.now(UTC))).sent.sent == 30
    [step] = (await world.a.manager.get(f"{CAMPAIGNS}/{cid}/messages")).json()
    now = datetime.now(UTC)
    await insert_activities(
        database,
        [
            {"company_id": str(world.a.id), "campaign_id": cid, "contact_id": people[i],
             "message_id": step["id"], "activity_type": kind, "occurred_at": now, "metadata": {}}
            for i, kind in ((0, "email_opened"), (1, "email_opened"), (1, "email_replied"))
        ],
    )  # fmt: skip
    lead = await world.a.manager.post(
        "/api/v1/leads", json={"contact_id": people[1], "deal_value": "1000.00"}
    )
    await world.a.manager.put(
        f"/api/v1/leads/{lead.json()['id']}/stage", json={"stage": "customer"}
    )
    client = await signed_in("agent@company-a.example")
    html = (await client.get(f"/app/campaigns/{cid}/analytics")).text
    funnel = _json_block(html, "funnel-data")
    assert funnel["labels"][:3] == ["enrolled", "sent", "delivered"]
    assert funnel["values"][0] == 30
    assert funnel["values"][1] == 30
    assert funnel["values"][-1] == 1  # converted
    series = _json_block(html, "series-data")
    sent = next(s for s in series["series"] if s["name"] == "sent")
    assert sum(sent["values"]) == 30
    assert len(series["labels"]) == len(sent["values"])
    assert 'data-chart="funnel"' in html
    assert 'data-chart="series"' in html
    assert 'data-testid="ab-verdict"' in html
    assert "opened / delivered" in html
    assert '<strong data-testid="roi">900.0%</strong>' in html  # (1000 - 100) / 100
    hourly = await client.get(f"/app/campaigns/{cid}/analytics", params={"interval": "hour"})
    assert hourly.status_code == 200
    assert (await client.get(f"/app/campaigns/{cid}/analytics?interval=year")).status_code == 422
    listing = (await client.get("/app/campaigns")).text
    row = listing.split("Spring outreach")[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">(\d+)</td>', row)[1:] == ["30", "30", "2", "1", "1"]
