"""Whatever a visitor sends, the dashboard answers with a page or a message, never a 500."""

from __future__ import annotations

from tests.campaigns.conftest import email_step, new_campaign
from tests.fixtures.world import World
from tests.leads.conftest import new_lead
from tests.web.conftest import SignIn

GARBAGE = ["", "-1", "1e309", "abc", "a\x00b", "x" * 5000, "25:99"]


async def test_no_form_or_query_value_produces_a_500(world: World, signed_in: SignIn) -> None:
    lead = await new_lead(world.a.manager, title="Target")
    campaign = await new_campaign(world.a.manager)
    step = await email_step(world.a.manager, campaign["id"])
    client = await signed_in("manager@company-a.example")
    lid, cid = lead["id"], campaign["id"]
    gets = {
        "/app/pipeline": ["assignee", "min_score", "max_score", "min_value", "max_value"],
        "/app/contacts": ["q", "lifecycle_stage", "opt_in_status", "tag", "min_score", "offset"],
        "/app/campaigns": ["status", "offset", "q"],
        f"/app/campaigns/{cid}/analytics": ["interval"],
        "/app/outbox": ["offset"],
    }
    posts = {
        f"/app/leads/{lid}/stage": ["stage", "reason"],
        f"/app/leads/{lid}/assign": ["user_id"],
        f"/app/leads/{lid}/manual-score": ["score", "reasoning"],
        "/app/campaigns/new": [
            "name", "campaign_type", "goal_type", "timezone", "quiet_start", "budget",
            "attribution_window_days", "min_score", "lifecycle_stages", "tags_any",
        ],
        f"/app/campaigns/{cid}/settings": ["name", "timezone", "quiet_end", "cost"],
        f"/app/campaigns/{cid}/preview": ["min_score", "max_score", "lead_stages", "tags_all"],
        f"/app/campaigns/{cid}/steps": [
            "message_type", "delay_value", "delay_unit", "subject", "body", "window_start",
            "window_days", "variant_name_1", "variant_weight_1",
        ],
        f"/app/campaigns/{cid}/test-send": ["message_id", "to", "variant"],
    }  # fmt: skip
    for path, fields in gets.items():
        for name in fields:
            for value in GARBAGE:
                response = await client.get(path, params={name: value})
                assert response.status_code < 500, (path, name, value, response.text[:300])
    for path, fields in posts.items():
        for name in fields:
            for value in GARBAGE:
                data = {"name": "N", "stage": "mql", "score": "5", "reasoning": "r", name: value}
                if path.endswith("test-send") and name != "message_id":
                    data["message_id"] = step["id"]
                response = await client.post(path, data=data)
                assert response.status_code < 500, (path, name, value, response.text[:300])
