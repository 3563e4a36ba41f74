"""Events reach a real HTTP receiver on loopback, signed per Standard Webhooks, in order per
lead, with retries, Retry-After, 410 and long failure handled; time is driven by the test."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.db import Database
from agentconnect.models import WebhookDelivery, WebhookEndpoint
from agentconnect.webhooks.dispatcher import (
    MAX_RETRY_AFTER,
    Dispatcher,
    DispatchSettings,
    parse_retry_after,
)
from tests.fixtures.world import World
from tests.leads.conftest import new_lead, set_stage
from tests.webhooks.conftest import ENDPOINTS, Receiver, new_endpoint, verify

NOW = datetime.now(UTC) + timedelta(minutes=1)


async def test_events_arrive_signed_with_the_documented_shape(
    world: World, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    endpoint = await new_endpoint(
        world.a.admin, receiver.url, ["lead.created", "lead.stage_changed"]
    )
    assert endpoint["secret"].startswith("whsec_")
    lead = await new_lead(world.a.admin, title="Acme deal")
    assert (await set_stage(world.a.admin, lead["id"], "mql")).status_code == 200

    outcome = await dispatcher.tick(NOW)

    assert outcome.delivered == 2
    assert [r.message["type"] for r in receiver.requests] == [
        "lead.created",
        "lead.stage_changed",
    ]
    for request in receiver.requests:
        assert verify(endpoint["secret"], request.headers, request.body)
        assert request.headers["webhook-timestamp"] == str(int(NOW.timestamp()))
        assert request.headers["content-type"] == "application/json"
        assert request.message["data"]["lead"]["id"] == lead["id"]
    changed = receiver.requests[1].message["data"]
    assert (changed["from_stage"], changed["to_stage"], changed["source"]) == (
        "lead",
        "mql",
        "manual",
    )
    # a tampered body no longer verifies: the check in the test is a real one
    first = receiver.requests[0]
    assert not verify(endpoint["secret"], first.headers, first.body.replace(b"Acme", b"Acme!"))


async def test_only_subscribed_types_and_own_company_are_sent(
    world: World, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await new_endpoint(world.a.admin, receiver.url, ["lead.stage_changed"])
    await new_lead(world.a.admin)  # lead.created: not subscribed
    other = await new_lead(world.b.admin)  # company B: not A's endpoint
    await set_stage(world.b.admin, other["id"], "mql")

    outcome = await dispatcher.tick(NOW)

    assert outcome.created == 0
    assert receiver.requests == []


async def test_retries_honour_retry_after_and_keep_each_leads_order(
    world: World, receiver: Receiver, dispatcher: Dispatcher, session: AsyncSession
) -> None:
    endpoint = await new_endpoint(
        world.a.admin, receiver.url, ["lead.created", "lead.stage_changed"]
    )
    lead = await new_lead(world.a.admin)
    await set_stage(world.a.admin, lead["id"], "mql")
    await set_stage(world.a.admin, lead["id"], "sql")
    receiver.script = [(500, {}), (429, {"Retry-After": "120"})]

    await dispatcher.tick(NOW)  # lead.created answered 500; the two after it wait their turn
    assert len(receiver.requests) == 1
    await dispatcher.tick(NOW + timedelta(seconds=3))  # before the ~5 s backoff: nothing
    assert len(receiver.requests) == 1
    await dispatcher.tick(NOW + timedelta(seconds=6))  # second attempt: 429, Retry-After 120
    assert len(receiver.requests) == 2
    await dispatcher.tick(NOW + timedelta(seconds=100))  # Retry-After not over yet
    assert len(receiver.requests) == 2
    await dispatcher.tick(NOW + timedelta(seconds=130))

    messages = [r.message for r in receiver.accepted]
    assert [m["type"] for m in messages] == ["lead.created", "lead.stage_changed"] * 1 + [
        "lead.stage_changed"
    ]
    assert [m["data"]["lead"]["stage"] for m in messages] == ["lead", "mql", "sql"]
    ids = [r.headers["webhook-id"] for r in receiver.accepted]
    assert len(set(ids)) == 3  # each event delivered once
    # the retried event kept its webhook-id across attempts
    assert receiver.requests[0].headers["webhook-id"] == ids[0]

    rows = (await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.seq))).all()
    assert [(r.status, r.attempts, r.response_status) for r in rows] == [
        ("delivered", 3, 200),
        ("delivered", 1, 200),
        ("delivered", 1, 200),
    ]
    log = await world.a.admin.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries")
    assert log.status_code == 200
    assert log.json()["total"] == 3


async def test_410_disables_the_endpoint_with_the_reason(
    world: World, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    endpoint = await new_endpoint(
        world.a.admin, receiver.url, ["lead.created", "lead.stage_changed"]
    )
    lead = await new_lead(world.a.admin)
    await set_stage(world.a.admin, lead["id"], "mql")
    receiver.script = [(410, {})]

    outcome = await dispatcher.tick(NOW)

    assert outcome.endpoints_disabled == 1
    assert len(receiver.requests) == 1  # the second event is not sent to a gone endpoint
    shown = (await world.a.admin.get(f"{ENDPOINTS}/{endpoint['id']}")).json()
    assert shown["enabled"] is False
    assert "410" in shown["disabled_reason"]
    failed = await world.a.admin.get(
        f"{ENDPOINTS}/{endpoint['id']}/deliveries", params={"status": "failed"}
    )
    assert failed.json()["items"][0]["response_status"] == 410
    # enabled again by the admin, the waiting event goes out
    again = await world.a.admin.patch(f"{ENDPOINTS}/{endpoint['id']}", json={"enabled": True})
    assert again.json()["disabled_reason"] is None
    await dispatcher.tick(NOW + timedelta(seconds=1))
    assert len(receiver.accepted) == 1


async def test_failing_for_long_disables_the_endpoint(
    world: World, receiver: Receiver, database: Database, app: Any, session: AsyncSession
) -> None:
    dispatcher = Dispatcher(
        database,
        DispatchSettings(
            secret_key=app.state.secret_key, allow_private=True, disable_after=timedelta(days=2)
        ),
    )
    endpoint = await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    await new_lead(world.a.admin)
    receiver.script = [(503, {})] * 20

    at = NOW
    for _ in range(8):
        await dispatcher.tick(at)
        at += timedelta(hours=11)  # past every backoff
    row = await session.get(WebhookEndpoint, endpoint["id"])
    assert row is not None
    assert row.enabled is False
    assert row.disabled_reason is not None
    assert "without a success" in row.disabled_reason
    assert "HTTP 503" in row.disabled_reason


async def test_a_failing_delivery_gives_up_after_the_last_attempt(
    world: World, receiver: Receiver, dispatcher: Dispatcher, session: AsyncSession
) -> None:
    await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    await new_lead(world.a.admin)
    receiver.script = [(500, {})] * 20
    at = NOW
    for _ in range(10):
        await dispatcher.tick(at)
        at += timedelta(hours=11)
    delivery = (await session.scalars(select(WebhookDelivery))).one()
    assert delivery.status == "failed"
    assert delivery.attempts == 8
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("gave up after 8 attempts")


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
    world: World, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    endpoint = await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    rotated = await world.a.admin.post(
        f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", json={"grace_hours": 1}
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"]
    await new_lead(world.a.admin)

    await dispatcher.tick(NOW)

    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verify(endpoint["secret"], request.headers, request.body)
    assert verify(new_secret, request.headers, request.body)

    await new_lead(world.a.admin)
    await dispatcher.tick(NOW + timedelta(hours=2))  # grace over: the old secret is gone
    late = receiver.requests[-1]
    assert verify(new_secret, late.headers, late.body)
    assert not verify(endpoint["secret"], late.headers, late.body)


async def test_ping_and_redelivery(
    world: World, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    # a ping is due from the wall clock's now (the API stamps it), not the module's NOW
    now = datetime.now(UTC) + timedelta(seconds=5)
    endpoint = await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    ping = await world.a.admin.post(f"{ENDPOINTS}/{endpoint['id']}/ping")
    assert ping.status_code == 202, ping.text
    await dispatcher.tick(now)
    assert receiver.requests[0].message["type"] == "webhook.ping"
    assert verify(endpoint["secret"], receiver.requests[0].headers, receiver.requests[0].body)

    again = await world.a.admin.post(
        f"{ENDPOINTS}/{endpoint['id']}/deliveries/{ping.json()['id']}/redeliver"
    )
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending"
    await dispatcher.tick(now + timedelta(seconds=1))
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert json.loads(first.body) == json.loads(second.body)


async def test_a_private_target_is_refused_at_send_time_without_the_setting(
    world: World, receiver: Receiver, database: Database, app: Any, session: AsyncSession
) -> None:
    await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    await new_lead(world.a.admin)
    strict = Dispatcher(database, DispatchSettings(secret_key=app.state.secret_key))

    await strict.tick(NOW)

    assert receiver.requests == []
    delivery = (await session.scalars(select(WebhookDelivery))).one()
    assert delivery.status == "failed"
    assert delivery.last_error is not None
    assert "refused" in delivery.last_error


def test_a_retry_after_past_any_sensible_time_is_capped_and_odd_digits_ignored() -> None:
    assert parse_retry_after("99999999999999", NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after("\u00b2", NOW) is None  # a digit to isdigit(), not to HTTP
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", NOW) is not None


async def test_a_huge_retry_after_is_recorded_as_a_retry(
    world: World, receiver: Receiver, dispatcher: Dispatcher, session: AsyncSession
) -> None:
    await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    await new_lead(world.a.admin)
    receiver.script = [(503, {"Retry-After": "99999999999999"})]

    outcome = await dispatcher.tick(NOW)

    assert outcome.retried == 1
    [row] = (await session.scalars(select(WebhookDelivery))).all()
    assert (row.status, row.attempts, row.response_status) == ("pending", 1, 503)
    assert row.next_attempt_at is not None
    assert row.next_attempt_at <= NOW + MAX_RETRY_AFTER + timedelta(seconds=5)
