"""Inbound email webhooks: verified, stored once, applied in an order that never goes back."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.channels.email_webhooks import sign, webhook_secret
from agentconnect.models import (
    ActivityType,
    CampaignContact,
    Contact,
    Conversation,
    Delivery,
    DeliveryStatus,
    EnrollmentStatus,
    GoalType,
    InboundEvent,
    IntentMatch,
    OptInStatus,
    Suppression,
    SuppressionReason,
)
from agentconnect.tracking.tokens import unsubscribe_token
from tests.fixtures.world import World
from tests.tracking.helpers import activities, row, sent_email

URL = "/webhooks/email/generic"


async def post(
    client: httpx.AsyncClient,
    app: Any,
    company_id: uuid.UUID,
    events: list[dict[str, Any]] | None = None,
    *,
    body: bytes | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
) -> httpx.Response:
    raw = body if body is not None else json.dumps({"events": events or []}).encode()
    secret = secret or webhook_secret(app.state.secret_key, company_id)
    stamp = int(time.time()) if timestamp is None else timestamp
    msg_id = f"msg_{uuid.uuid4().hex}"
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, msg_id, stamp, raw),
    }
    return await client.post(
        URL, params={"company_id": str(company_id)}, content=raw, headers=headers
    )


async def stored_events(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(InboundEvent)) or 0)


def event(kind: str, message_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex}", "type": kind, "message_id": message_id, **fields}


async def test_signature_is_required(world: World, app: Any, session: AsyncSession) -> None:
    sent = await sent_email(session, world.a.id)
    events = [event("bounce", f"<{sent.message_id_header}>", bounce_type="hard")]
    raw = json.dumps({"events": events}).encode()
    client = world.anonymous
    missing = await client.post(URL, params={"company_id": str(world.a.id)}, content=raw)
    assert missing.status_code == 403
    assert missing.headers["content-type"] == "application/problem+json"
    # B's secret, a stale timestamp, an altered body, no company: all refused
    b_secret = webhook_secret(app.state.secret_key, world.b.id)
    assert (await post(client, app, world.a.id, events, secret=b_secret)).status_code == 403
    stale = int(time.time()) - 600
    assert (await post(client, app, world.a.id, events, timestamp=stale)).status_code == 403
    good = await post(client, app, world.a.id, events)
    assert good.status_code == 200
    await session.execute(InboundEvent.__table__.delete())
    await session.commit()
    msg_id, stamp = "msg_1", int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(
            webhook_secret(app.state.secret_key, world.a.id), msg_id, stamp, raw
        ),
    }
    altered = raw.replace(b"hard", b"soft")
    response = await client.post(
        URL, params={"company_id": str(world.a.id)}, content=altered, headers=headers
    )
    assert response.status_code == 403
    response = await client.post(URL, content=raw, headers=headers)
    assert response.status_code == 403
    assert await stored_events(session) == 0


async def test_unknown_provider_bad_json_and_wrong_types(
    world: World, app: Any, session: AsyncSession
) -> None:
    client = world.anonymous
    response = await client.post("/webhooks/email/nosuch", content=b"{}")
    assert response.status_code == 404
    for body in (
        b"{not json",
        b"[]",
        b'{"events": "x"}',
        b'{"events": [{"id": "e1", "type": "teleported"}]}',
        b'{"events": [{"id": 5, "type": "bounce"}]}',
        b'{"events": [{"id": "e1", "type": "bounce", "occurred_at": "yesterday"}]}',
        b'{"events": [{"id": "e1\\u0000", "type": "bounce"}]}',
    ):
        response = await post(client, app, world.a.id, body=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"]
    too_big = b'{"events": [], "pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert (await post(client, app, world.a.id, body=too_big)).status_code == 413
    assert await stored_events(session) == 0


async def test_each_event_is_stored_once(world: World, app: Any, session: AsyncSession) -> None:
    sent = await sent_email(session, world.a.id)
    delivered = event("delivered", sent.message_id_header)
    first = await post(world.anonymous, app, world.a.id, [delivered, delivered])
    assert first.json() == {"received": 2, "duplicates": 1, "matched": 1}
    again = await post(world.anonymous, app, world.a.id, [delivered])
    assert again.json() == {"received": 1, "duplicates": 1, "matched": 0}
    assert await stored_events(session) == 1
    assert len(await activities(session, world.a.id, ActivityType.EMAIL_DELIVERED)) == 1


async def test_hard_bounce_suppresses_the_address_soft_does_not(
    world: World, app: Any, session: AsyncSession
) -> None:
    hard = await sent_email(session, world.a.id)
    soft = await sent_email(session, world.a.id)
    response = await post(
        world.anonymous,
        app,
        world.a.id,
        [
            event("bounce", f"<{hard.message_id_header}>", bounce_type="hard", reason="550 5.1.1"),
            event("bounce", soft.message_id_header, bounce_type="soft", reason="452 mailbox full"),
        ],
    )
    assert response.status_code == 200
    for setup in (hard, soft):
        delivery = await row(session, Delivery, setup.delivery_id)
        assert delivery.status == DeliveryStatus.BOUNCED
        assert delivery.failed_at is not None
    bounced = await activities(session, world.a.id, ActivityType.EMAIL_BOUNCED)
    assert {(b.details["bounce_type"], b.details["reason"]) for b in bounced} == {
        ("hard", "550 5.1.1"),
        ("soft", "452 mailbox full"),
    }
    suppressions = (await session.scalars(select(Suppression))).all()
    assert [(s.company_id, s.channel, s.address, s.reason) for s in suppressions] == [
        (world.a.id, "email", "ada@example.com", SuppressionReason.HARD_BOUNCE)
    ]


async def test_status_never_moves_backwards(world: World, app: Any, session: AsyncSession) -> None:
    sent = await sent_email(session, world.a.id)
    header = sent.message_id_header
    await post(world.anonymous, app, world.a.id, [event("delivered", header)])
    assert (await row(session, Delivery, sent.delivery_id)).status == DeliveryStatus.DELIVERED
    # an asynchronous bounce after the receiving server accepted the message wins
    await post(world.anonymous, app, world.a.id, [event("bounce", header, bounce_type="hard")])
    assert (await row(session, Delivery, sent.delivery_id)).status == DeliveryStatus.BOUNCED
    # a late "delivered" changes nothing
    await post(world.anonymous, app, world.a.id, [event("delivered", header)])
    assert (await row(session, Delivery, sent.delivery_id)).status == DeliveryStatus.BOUNCED
    kinds = [a.activity_type for a in await activities(session, world.a.id)]
    assert kinds == [ActivityType.EMAIL_DELIVERED, ActivityType.EMAIL_BOUNCED]


async def test_complaint_suppresses_and_opts_out(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id)
    response = await post(
        world.anonymous, app, world.a.id, [event("complaint", sent.message_id_header)]
    )
    assert response.json()["matched"] == 1
    assert (await row(session, Contact, sent.contact_id)).opt_in_status == OptInStatus.OPTED_OUT
    enrollment = await row(session, CampaignContact, sent.enrollment_id)
    assert (enrollment.status, enrollment.exit_reason) == (EnrollmentStatus.OPTED_OUT, "complaint")
    assert (await row(session, Delivery, sent.queued_id)).status == DeliveryStatus.CANCELLED
    [complained] = await activities(session, world.a.id, ActivityType.EMAIL_COMPLAINED)
    assert complained.details["delivery_id"] == str(sent.delivery_id)
    [suppression] = (await session.scalars(select(Suppression))).all()
    assert suppression.reason == SuppressionReason.COMPLAINT


async def test_reply_is_recorded_and_reaches_the_reply_goal(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id, goal=GoalType.REPLY)
    reply = event(
        "reply",
        f"<{sent.message_id_header}>",
        **{"from": "ada@example.com", "subject": "Re: Hello", "text": "Yes, call me."},
        occurred_at="2026-11-23T21:00:00Z",
    )
    response = await post(world.anonymous, app, world.a.id, [reply])
    assert response.json() == {"received": 1, "duplicates": 0, "matched": 1}
    [replied] = await activities(session, world.a.id, ActivityType.EMAIL_REPLIED)
    assert replied.details["text"] == "Yes, call me."
    assert replied.details["from"] == "ada@example.com"
    assert replied.occurred_at.isoformat() == "2026-11-23T21:00:00+00:00"
    enrollment = await row(session, CampaignContact, sent.enrollment_id)
    assert (enrollment.status, enrollment.exit_reason) == (
        EnrollmentStatus.GOAL_ACHIEVED,
        "goal reached: reply",
    )
    assert len(await activities(session, world.a.id, ActivityType.GOAL_ACHIEVED)) == 1
    jobs = await session.scalar(text("SELECT count(*) FROM procrastinate_jobs"))
    assert jobs == 1  # the contact is scored again


async def test_the_intents_in_a_reply_are_found_in_what_the_contact_wrote(
    world: World, app: Any, session: AsyncSession
) -> None:
    sent = await sent_email(session, world.a.id)
    body = (
        "We have budget approved, can we start next month?\n\n"
        "On Mon, 23 Nov 2026, Ann <ann@crm.example> wrote:\n"
        "> Not interested? Is the price too high for you?"
    )
    reply = event("reply", f"<{sent.message_id_header}>", subject="Re: Hello", text=body)
    assert (await post(world.anonymous, app, world.a.id, [reply])).json()["matched"] == 1
    session.expire_all()
    [conversation] = (await session.scalars(select(Conversation))).all()
    assert (conversation.contact_id, conversation.channel) == (sent.contact_id, "email")
    assert [(m["role"], m["text"]) for m in conversation.messages] == [
        ("contact", "We have budget approved, can we start next month?")
    ]
    found = (await session.scalars(select(IntentMatch))).all()
    intents = {m.intent for m in found}
    assert {"budget_confirmed", "timeline_defined"} <= intents
    # the quoted question is ours: no objection or disinterest is read into it
    assert not intents & {"not_interested", "objection_budget"}
    assert {m.conversation_id for m in found} == {conversation.id}

    # the next reply in the thread joins the conversation; a quote alone adds nothing
    again = event("reply", f"<{sent.message_id_header}>", text="> only the quote")
    assert (await post(world.anonymous, app, world.a.id, [again])).json()["matched"] == 1
    session.expire_all()
    [conversation] = (await session.scalars(select(Conversation))).all()
    assert len(conversation.messages) == 1


async def test_unknown_message_id_is_stored_and_ignored(
    world: World, app: Any, session: AsyncSession
) -> None:
    await sent_email(session, world.a.id)
    response = await post(
        world.anonymous, app, world.a.id, [event("bounce", "<nobody@nowhere>", bounce_type="hard")]
    )
    assert response.json() == {"received": 1, "duplicates": 0, "matched": 0}
    assert await stored_events(session) == 1
    assert await activities(session, world.a.id) == []
    assert (await session.scalars(select(Suppression))).all() == []


async def test_mailto_unsubscribe(world: World, app: Any, session: AsyncSession) -> None:
    sent = await sent_email(session, world.a.id)
    token = unsubscribe_token(app.state.secret_key, sent.delivery_id)
    mail = {"id": "in_1", "type": "reply", "subject": f"unsubscribe-{token}"}
    response = await post(world.anonymous, app, world.a.id, [mail])
    assert response.json()["matched"] == 1
    assert (await row(session, Contact, sent.contact_id)).opt_in_status == OptInStatus.OPTED_OUT
    [done] = await activities(session, world.a.id, ActivityType.EMAIL_UNSUBSCRIBED)
    assert done.details["method"] == "mailto"


async def test_one_company_cannot_touch_another(
    world: World, app: Any, session: AsyncSession
) -> None:
    in_b = await sent_email(session, world.b.id)
    token = unsubscribe_token(app.state.secret_key, in_b.delivery_id)
    # A's signed webhook naming B's message, with the same event id B will use
    same_id = "evt_shared"
    events = [
        {"id": same_id, "type": "complaint", "message_id": in_b.message_id_header},
        {"id": "evt_2", "type": "reply", "subject": f"unsubscribe-{token}"},
    ]
    response = await post(world.anonymous, app, world.a.id, events)
    assert response.json() == {"received": 2, "duplicates": 0, "matched": 0}
    assert (await row(session, Contact, in_b.contact_id)).opt_in_status == OptInStatus.UNKNOWN
    assert await activities(session, world.b.id) == []
    # B's own event with that id is not a duplicate of A's
    response = await post(
        world.anonymous,
        app,
        world.b.id,
        [{"id": same_id, "type": "delivered", "message_id": in_b.message_id_header}],
    )
    assert response.json() == {"received": 1, "duplicates": 0, "matched": 1}


async def test_admins_read_the_webhook_url_and_secret(world: World, app: Any) -> None:
    response = await world.a.admin.get("/api/v1/channels/email/webhook")
    assert response.status_code == 200
    body = response.json()
    assert body["secret"] == webhook_secret(app.state.secret_key, world.a.id)
    assert body["secret"].startswith("whsec_")
    assert body["url"].endswith(f"/webhooks/email/generic?company_id={world.a.id}")
    other = await world.b.admin.get("/api/v1/channels/email/webhook")
    assert other.json()["secret"] != body["secret"]
    assert (await world.a.manager.get("/api/v1/channels/email/webhook")).status_code == 403
    assert (await world.anonymous.get("/api/v1/channels/email/webhook")).status_code == 401
