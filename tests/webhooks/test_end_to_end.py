"""A rule's send_webhook action reaches a real receiver through the outbox and the worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentconnect.automations.runner import Runner
from agentconnect.db import Database
from agentconnect.webhooks.dispatcher import Dispatcher
from tests.automations.conftest import new_rule
from tests.fixtures.world import World
from tests.leads.conftest import new_lead, set_stage
from tests.webhooks.conftest import Receiver, new_endpoint, verify

NOW = datetime.now(UTC) + timedelta(minutes=1)


async def test_rule_then_webhook(
    world: World, receiver: Receiver, dispatcher: Dispatcher, database: Database
) -> None:
    endpoint = await new_endpoint(
        world.a.admin, receiver.url, ["automation.triggered", "lead.stage_changed"]
    )
    await new_rule(
        world.a.manager,
        {"type": "lead_stage_changed", "to_stage": "opportunity"},
        [{"type": "set_stage", "stage": "customer", "reason": "auto-won"},
         {"type": "send_webhook", "label": "won-by-rule"}],
    )  # fmt: skip
    lead = await new_lead(world.a.admin)
    await set_stage(world.a.admin, lead["id"], "opportunity")

    await Runner(database).tick(NOW)
    await dispatcher.tick(NOW)

    types = [r.message["type"] for r in receiver.accepted]
    # the person's change, the rule's change, then the rule's own event: one lead, in order
    assert types == ["lead.stage_changed", "lead.stage_changed", "automation.triggered"]
    assert [r.message["data"].get("source") for r in receiver.accepted[:2]] == [
        "manual",
        "automation",
    ]
    triggered = receiver.accepted[2].message["data"]
    assert triggered["label"] == "won-by-rule"
    assert triggered["event"]["data"]["to_stage"] == "opportunity"
    assert all(verify(endpoint["secret"], r.headers, r.body) for r in receiver.accepted)
