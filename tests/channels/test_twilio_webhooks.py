"""Twilio messaging webhooks: verified, stored once, statuses only forward, keywords obeyed."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from agentconnect.models import (
    ActivityType,
    Campaign,
    CampaignActivity,
    CampaignContact,
    CampaignMessage,
    CampaignStatus,
    CampaignType,
    Conversation,
    Delivery,
    DeliveryStatus,
    EnrollmentStatus,
    InboundEvent,
    IntentMatch,
    MessageType,
    Suppression,
    SuppressionReason,
)
from agentconnect.models.delivery import DeliveryContent
from tests.campaigns.conftest import add_step, contact, new_campaign
from tests.fixtures.world import World
from tests.tracking.helpers import activities, row

TOKEN = "0123456789abcdef0123456789abcdef"
OTHER_TOKEN = "fedcba9876543210fedcba9876543210"
ACCOUNT_A = "AC" + "a1" * 16
ACCOUNT_B = "AC" + "b2" * 16
SMS_FROM = "+15005550006"
WHATSAPP_FROM = "+14155238886"
# The app's public base URL in tests (Settings.base_url's default): Twilio signs the URL it
# called, not the one the in-process client posts to.
PUBLIC_BASE = "http://127.0.0.1:8000"
ADA_PHONE = "+14155550100"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def path(company_id: uuid.UUID, endpoint: str) -> str:
    return f"/webhooks/twilio/{company_id}/messages/{endpoint}"


def signature(url_path: str, form: dict[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(PUBLIC_BASE + url_path, form))


async def post(
    client: httpx.AsyncClient,
    company_id: uuid.UUID,
    endpoint: str,
    form: dict[str, str],
    *,
    token: str = TOKEN,
    signed_for: uuid.UUID | None = None,
) -> httpx.Response:
    """Post `form` as Twilio would, signed over the URL of `signed_for` (default: the same)."""
    target = path(company_id, endpoint)
    sig = signature(path(signed_for or company_id, endpoint), form, token)
    return await client.post(target, data=form, headers={"X-Twilio-Signature": sig})


async def configure_twilio(client: httpx.AsyncClient, account_sid: str = ACCOUNT_A) -> None:
    response = await client.put(
        "/api/v1/channels/twilio",
        json={
            "account_sid": account_sid,
            "auth_token": TOKEN,
            "sms_from": SMS_FROM,
            "whatsapp_from": WHATSAPP_FROM,
        },
    )
    assert response.status_code == 200, response.text


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


def status_form(
    sid: str,
    status: str,
    *,
    channel: MessageType = MessageType.SMS,
    error_code: str | None = None,
    account_sid: str = ACCOUNT_A,
) -> dict[str, str]:
    prefix = "whatsapp:" if channel is MessageType.WHATSAPP else ""
    form = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "From": prefix + (WHATSAPP_FROM if prefix else SMS_FROM),
        "To": prefix + ADA_PHONE,
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
    }
    if error_code is not None:
        form["ErrorCode"] = error_code
    return form


def inbound_form(
    body: str,
    *,
    sender: str = ADA_PHONE,
    channel: MessageType = MessageType.SMS,
    sid: str | None = None,
    account_sid: str = ACCOUNT_A,
) -> dict[str, str]:
    whatsapp = channel is MessageType.WHATSAPP
    prefix = "whatsapp:" if whatsapp else ""
    sid = sid or new_sid()
    form = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": prefix + sender,
        "To": prefix + (WHATSAPP_FROM if whatsapp else SMS_FROM),
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "NumMedia": "0",
        "NumSegments": "1",
    }
    if whatsapp:
        form |= {"WaId": sender.lstrip("+"), "ProfileName": "Ada", "MessageType": "text"}
    return form


async def new_contact(client: httpx.AsyncClient, phone: str = ADA_PHONE) -> uuid.UUID:
    return uuid.UUID((await contact(client, first_name="Ada", phone=phone))["id"])


@dataclass
class SentMessage:
    sid: str
    delivery_id: uuid.UUID
    queued_id: uuid.UUID
    campaign_id: uuid.UUID
    enrollment_id: uuid.UUID
    contact_id: uuid.UUID


async def sent_message(
    session: AsyncSession,
    company_id: uuid.UUID,
    contact_id: uuid.UUID,
    channel: MessageType = MessageType.SMS,
    *,
    status: DeliveryStatus = DeliveryStatus.SENT,
) -> SentMessage:
    """A campaign whose step 1 went out through Twilio (as the engine records it) and whose
    step 2 waits in the queue."""
    campaign = Campaign(
        company_id=company_id,
        name=f"Texts {uuid.uuid4().hex[:6]}",
        campaign_type=CampaignType(channel.value),
        status=CampaignStatus.ACTIVE,
    )
    session.add(campaign)
    await session.flush()
    step = CampaignMessage(
        company_id=company_id,
        campaign_id=campaign.id,
        sequence_order=1,
        message_type=channel,
        body="Hi Ada",
    )
    enrollment = CampaignContact(
        company_id=company_id,
        campaign_id=campaign.id,
        contact_id=contact_id,
        status=EnrollmentStatus.ACTIVE,
        current_step=2,
        next_step_at=func.now(),
    )
    session.add_all([step, enrollment])
    await session.flush()
    sid = new_sid()
    common: dict[str, Any] = {
        "company_id": company_id,
        "campaign_id": campaign.id,
        "enrollment_id": enrollment.id,
        "contact_id": contact_id,
        "channel": channel,
        "to_address": ADA_PHONE,
    }
    sent = Delivery(
        content=DeliveryContent(company_id=company_id, body_text="Hi Ada"),
        message_id=step.id,
        step_order=1,
        dedupe_key=f"{enrollment.id}:1",
        status=status,
        provider="twilio",
        provider_message_id=sid,
        provider_status="queued",
        sent_at=func.now(),
        variant="A",
        **common,
    )
    queued = Delivery(
        content=DeliveryContent(company_id=company_id, body_text="Hi Ada"),
        step_order=2,
        dedupe_key=f"{enrollment.id}:2",
        **common,
    )
    session.add_all([sent, queued])
    await session.commit()
    return SentMessage(sid, sent.id, queued.id, campaign.id, enrollment.id, contact_id)


async def count(session: AsyncSession, model: Any) -> int:
    session.expire_all()
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def kinds(session: AsyncSession, company_id: uuid.UUID) -> list[ActivityType]:
    return [a.activity_type for a in await activities(session, company_id)]


async def suppressions(session: AsyncSession) -> list[tuple[uuid.UUID, str, str, str]]:
    session.expire_all()
    rows = (await session.scalars(select(Suppression))).all()
    return [(s.company_id, s.channel, s.address, s.reason) for s in rows]


# --- status callbacks ---------------------------------------------------------------------------


async def test_delivered_moves_the_delivery_and_records_it(
    world: World, session: AsyncSession
) -> None:
    await configure_twilio(world.a.admin)
    sent = await sent_message(session, world.a.id, await new_contact(world.a.manager))
    response = await post(world.anonymous, world.a.id, "status", status_form(sent.sid, "delivered"))
    assert response.status_code == 204, response.text
    assert response.content == b""
    delivery = await row(session, Delivery, sent.delivery_id)
    assert (delivery.status, delivery.provider_status) == (DeliveryStatus.DELIVERED, "delivered")
    assert delivery.delivered_at is not None
    [delivered] = await activities(session, world.a.id, ActivityType.SMS_DELIVERED)
    assert delivered.campaign_id == sent.campaign_id
    assert delivered.contact_id == sent.contact_id
    assert delivered.variant == "A"
    assert delivered.details == {
        "delivery_id": str(sent.delivery_id),
        "message_sid": sent.sid,
        "status": "delivered",
    }


async def test_a_repeated_callback_changes_nothing(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    sent = await sent_message(session, world.a.id, await new_contact(world.a.manager))
    form = status_form(sent.sid, "delivered")
    for _ in range(3):
        response = await post(world.anonymous, world.a.id, "status", form)
        assert response.status_code == 204
    assert await kinds(session, world.a.id) == [ActivityType.SMS_DELIVERED]
    assert await count(session, InboundEvent) == 1


async def test_statuses_never_move_backwards(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    sent = await sent_message(session, world.a.id, await new_contact(world.a.manager))
    for status in ("delivered", "sent", "sending", "queued", "undelivered", "failed"):
        form = status_form(sent.sid, status, error_code="30003" if status == "failed" else None)
        assert (await post(world.anonymous, world.a.id, "status", form)).status_code == 204
    delivery = await row(session, Delivery, sent.delivery_id)
    # a delivered message is never failed afterwards; the provider status stays at its best
    assert (delivery.status, delivery.provider_status) == (DeliveryStatus.DELIVERED, "delivered")
    assert delivery.failed_at is None
    assert delivery.last_error is None
    assert await kinds(session, world.a.id) == [ActivityType.SMS_DELIVERED]
    assert await count(session, InboundEvent) == 6


async def test_sent_then_failed_records_the_error(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    sent = await sent_message(session, world.a.id, await new_contact(world.a.manager))
    for status, code in (("sent", None), ("undelivered", "30005"), ("failed", "30005")):
        form = status_form(sent.sid, status, error_code=code)
        assert (await post(world.anonymous, world.a.id, "status", form)).status_code == 204
    delivery = await row(session, Delivery, sent.delivery_id)
    assert (delivery.status, delivery.provider_status) == (DeliveryStatus.FAILED, "undelivered")
    assert delivery.last_error == "Twilio error 30005"
    assert delivery.failed_at is not None
    [failed] = await activities(session, world.a.id, ActivityType.SMS_FAILED)
    assert failed.details["error_code"] == "30005"
    assert failed.details["status"] == "undelivered"
    # a failure that is no unsubscription suppresses nothing
    assert await suppressions(session) == []


async def test_whatsapp_read_before_delivered(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    contact_id = await new_contact(world.a.manager)
    sent = await sent_message(session, world.a.id, contact_id, MessageType.WHATSAPP)
    for status in ("read", "delivered", "sent"):
        form = status_form(sent.sid, status, channel=MessageType.WHATSAPP)
        assert (await post(world.anonymous, world.a.id, "status", form)).status_code == 204
    delivery = await row(session, Delivery, sent.delivery_id)
    assert (delivery.status, delivery.provider_status) == (DeliveryStatus.DELIVERED, "read")
    # the read receipt stands for the delivery too: never a "delivered" after a "read"
    assert await kinds(session, world.a.id) == [ActivityType.WHATSAPP_READ]


async def test_whatsapp_delivered_then_read(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    contact_id = await new_contact(world.a.manager)
    sent = await sent_message(session, world.a.id, contact_id, MessageType.WHATSAPP)
    for status in ("sent", "delivered", "read", "failed"):
        form = status_form(sent.sid, status, channel=MessageType.WHATSAPP)
        assert (await post(world.anonymous, world.a.id, "status", form)).status_code == 204
    delivery = await row(session, Delivery, sent.delivery_id)
    assert (delivery.status, delivery.provider_status) == (DeliveryStatus.DELIVERED, "read")
    assert await kinds(session, world.a.id) == [
        ActivityType.WHATSAPP_DELIVERED,
        ActivityType.WHATSAPP_READ,
    ]


async def test_whatsapp_failure(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    contact_id = await new_contact(world.a.manager)
    sent = await sent_message(session, world.a.id, contact_id, MessageType.WHATSAPP)
    form = status_form(sent.sid, "failed", channel=MessageType.WHATSAPP, error_code="63016")
    assert (await post(world.anonymous, world.a.id, "status", form)).status_code == 204
    assert (await row(session, Delivery, sent.delivery_id)).status == DeliveryStatus.FAILED
    assert await kinds(session, world.a.id) == [ActivityType.WHATSAPP_FAILED]


async def test_failure_21610_suppresses_the_number(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    sent = await sent_message(session, world.a.id, await new_contact(world.a.manager))
    form = status_form(sent.sid, "failed", error_code="21610")
    assert (await post(world.anonymous, world.a.id, "status", form)).status_code == 204
    delivery = await row(session, Delivery, sent.delivery_id)
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.FAILED, "Twilio error 21610")
    assert await suppressions(session) == [
        (world.a.id, "sms", ADA_PHONE, SuppressionReason.UNSUBSCRIBED)
    ]
    assert sorted(await kinds(session, world.a.id)) == [
        ActivityType.SMS_FAILED,
        ActivityType.SMS_OPTED_OUT,
    ]
    [opted_out] = await activities(session, world.a.id, ActivityType.SMS_OPTED_OUT)
    assert opted_out.campaign_id == sent.campaign_id
    assert opted_out.details["error_code"] == "21610"
    queued = await row(session, Delivery, sent.queued_id)
    assert queued.status == DeliveryStatus.CANCELLED
    # Twilio repeating the callback adds nothing
    assert (await post(world.anonymous, world.a.id, "status", form)).status_code == 204
    assert len(await activities(session, world.a.id)) == 2


async def test_unknown_message_is_stored_and_ignored(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    sent = await sent_message(session, world.a.id, await new_contact(world.a.manager))
    form = status_form(new_sid(), "failed", error_code="21610")
    response = await post(world.anonymous, world.a.id, "status", form)
    assert response.status_code == 204
    assert await count(session, InboundEvent) == 1
    assert await activities(session, world.a.id) == []
    assert await suppressions(session) == []
    delivery = await row(session, Delivery, sent.delivery_id)
    assert (delivery.status, delivery.provider_status) == (DeliveryStatus.SENT, "queued")


async def test_concurrent_callbacks_of_one_message(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    contact_id = await new_contact(world.a.manager)
    sent = await sent_message(session, world.a.id, contact_id, MessageType.WHATSAPP)
    forms = [
        status_form(sent.sid, status, channel=MessageType.WHATSAPP)
        for status in ("sent", "delivered", "read")
    ]
    responses = await asyncio.gather(
        *(post(world.anonymous, world.a.id, "status", form) for form in forms)
    )
    assert [r.status_code for r in responses] == [204, 204, 204]
    delivery = await row(session, Delivery, sent.delivery_id)
    assert (delivery.status, delivery.provider_status) == (DeliveryStatus.DELIVERED, "read")
    found = await kinds(session, world.a.id)
    # whatever order they were applied in, the read is recorded once
    assert found.count(ActivityType.WHATSAPP_READ) == 1
    assert set(found) <= {ActivityType.WHATSAPP_DELIVERED, ActivityType.WHATSAPP_READ}


# --- verification -------------------------------------------------------------------------------


async def test_unverified_requests_store_nothing(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    await configure_twilio(world.b.admin, ACCOUNT_B)
    sent = await sent_message(session, world.a.id, await new_contact(world.a.manager))
    form = status_form(sent.sid, "delivered")
    client, url = world.anonymous, path(world.a.id, "status")

    missing = await client.post(url, data=form)
    assert missing.status_code == 403
    assert missing.headers["content-type"] == "application/problem+json"
    forged = await client.post(url, data=form, headers={"X-Twilio-Signature": "bm9wZQ=="})
    assert forged.status_code == 403
    wrong_token = await post(client, world.a.id, "status", form, token=OTHER_TOKEN)
    assert wrong_token.status_code == 403
    # a genuine signature replayed with a changed status
    genuine = signature(url, form)
    changed = form | {"MessageStatus": "failed", "SmsStatus": "failed"}
    replayed = await client.post(url, data=changed, headers={"X-Twilio-Signature": genuine})
    assert replayed.status_code == 403
    # signed for A's URL (with A's token), posted to B's
    crossed = await post(client, world.b.id, "status", form, signed_for=world.a.id)
    assert crossed.status_code == 403
    # signed correctly for B's URL but naming A's account: B's token is the same string here
    other_account = await post(client, world.b.id, "status", form)
    assert other_account.status_code == 403
    # a malformed company id answers like a bad signature
    bogus = await client.post("/webhooks/twilio/not-a-uuid/messages/status", data=form)
    assert bogus.status_code == 403

    assert await count(session, InboundEvent) == 0
    assert await activities(session, world.a.id) == []
    assert (await row(session, Delivery, sent.delivery_id)).status == DeliveryStatus.SENT


async def test_a_company_without_twilio_settings_is_refused(
    world: World, session: AsyncSession
) -> None:
    form = status_form(new_sid(), "delivered")
    response = await post(world.anonymous, world.a.id, "status", form)
    assert response.status_code == 403
    inbound = await post(world.anonymous, world.a.id, "inbound", inbound_form("STOP"))
    assert inbound.status_code == 403
    assert await count(session, InboundEvent) == 0
    assert await suppressions(session) == []


async def test_signed_requests_without_twilios_fields(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    client = world.anonymous
    for endpoint, form in (
        ("status", {"AccountSid": ACCOUNT_A, "MessageStatus": "delivered"}),
        ("status", {"AccountSid": ACCOUNT_A, "MessageSid": new_sid()}),
        ("status", {"AccountSid": ACCOUNT_A, "MessageSid": "x" * 500, "MessageStatus": "sent"}),
        ("inbound", {"AccountSid": ACCOUNT_A, "Body": "hi", "From": ADA_PHONE}),
        ("inbound", inbound_form("hi") | {"From": "somebody"}),
        ("inbound", {k: v for k, v in inbound_form("hi").items() if k != "To"}),
    ):
        response = await post(client, world.a.id, endpoint, form)
        assert response.status_code == 422, (form, response.text)
        assert response.json()["errors"]
    # not form data at all: still an answer, never a 500
    raw = b'{"MessageSid": "SM1"}'
    url = path(world.a.id, "status")
    response = await client.post(
        url,
        content=raw,
        headers={"X-Twilio-Signature": signature(url, {}), "content-type": "application/json"},
    )
    assert response.status_code in (403, 422)
    assert await count(session, InboundEvent) == 0


async def test_nul_characters_do_not_break_anything(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    await new_contact(world.a.manager)
    form = inbound_form("hel\x00lo")
    response = await post(world.anonymous, world.a.id, "inbound", form)
    assert response.status_code == 200, response.text
    [replied] = await activities(session, world.a.id, ActivityType.SMS_REPLIED)
    assert replied.details["text"] == "hello"


# --- inbound messages ---------------------------------------------------------------------------


async def test_a_reply_is_recorded_and_reaches_the_reply_goal(
    world: World, session: AsyncSession
) -> None:
    await configure_twilio(world.a.admin)
    contact_id = await new_contact(world.a.manager)
    campaign = await new_campaign(world.a.manager, campaign_type="sms", goal_type="reply")
    await add_step(world.a.manager, campaign["id"], body="Hi {{first_name}}")
    enrolled = await world.a.manager.post(
        f"/api/v1/campaigns/{campaign['id']}/enroll", json={"contact_ids": [str(contact_id)]}
    )
    assert enrolled.json()["enrolled"] == 1, enrolled.text
    sent = await sent_message(session, world.a.id, contact_id)

    form = inbound_form("  Yes, call me tomorrow  ")
    response = await post(world.anonymous, world.a.id, "inbound", form)
    assert response.status_code == 200, response.text
    assert response.text == EMPTY_TWIML
    assert response.headers["content-type"].startswith("application/xml")

    [replied] = await activities(session, world.a.id, ActivityType.SMS_REPLIED)
    # linked to the newest message that went out to the contact on this channel
    assert (replied.campaign_id, replied.variant) == (sent.campaign_id, "A")
    assert replied.details == {
        "delivery_id": str(sent.delivery_id),
        "message_sid": form["MessageSid"],
        "text": "  Yes, call me tomorrow  ",
        "channel": "sms",
    }
    session.expire_all()
    [conversation] = (await session.scalars(select(Conversation))).all()
    assert conversation.contact_id == contact_id
    assert conversation.channel == "sms"
    assert conversation.external_id == f"sms:{contact_id}:{SMS_FROM}"
    assert [(m["role"], m["text"]) for m in conversation.messages] == [
        ("contact", "  Yes, call me tomorrow  ")
    ]
    [enrollment] = (
        await session.scalars(
            select(CampaignContact).where(CampaignContact.campaign_id == uuid.UUID(campaign["id"]))
        )
    ).all()
    assert enrollment.status == EnrollmentStatus.GOAL_ACHIEVED
    # the campaign without a reply goal goes on
    other = await row(session, CampaignContact, sent.enrollment_id)
    assert other.status == EnrollmentStatus.ACTIVE

    # the next reply joins the same conversation
    second = await post(world.anonymous, world.a.id, "inbound", inbound_form("Any time"))
    assert second.status_code == 200
    session.expire_all()
    [conversation] = (await session.scalars(select(Conversation))).all()
    assert [m["text"] for m in conversation.messages] == ["  Yes, call me tomorrow  ", "Any time"]


async def test_the_intents_in_a_reply_are_read_once(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    contact_id = await new_contact(world.a.manager)
    said = inbound_form("We have budget approved, can we start next month?")
    assert (await post(world.anonymous, world.a.id, "inbound", said)).status_code == 200
    found = (await session.scalars(select(IntentMatch))).all()
    assert {"budget_confirmed", "timeline_defined"} <= {m.intent for m in found}
    assert {m.contact_id for m in found} == {contact_id}
    evidence = " ".join(m.evidence for m in found).lower()
    assert "budget approved" in evidence

    # a later message is read alone: the earlier one is not found again
    assert (
        await post(world.anonymous, world.a.id, "inbound", inbound_form("Thanks"))
    ).status_code == 200
    session.expire_all()
    assert len((await session.scalars(select(IntentMatch))).all()) == len(found)


async def test_concurrent_replies_share_one_conversation(
    world: World, session: AsyncSession
) -> None:
    await configure_twilio(world.a.admin)
    await new_contact(world.a.manager)
    forms = [inbound_form(f"message {i}") for i in range(4)]
    responses = await asyncio.gather(
        *(post(world.anonymous, world.a.id, "inbound", form) for form in forms)
    )
    assert {r.status_code for r in responses} == {200}
    session.expire_all()
    [conversation] = (await session.scalars(select(Conversation))).all()
    assert sorted(m["text"] for m in conversation.messages) == [f"message {i}" for i in range(4)]


async def test_whatsapp_reply(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    contact_id = await new_contact(world.a.manager)
    form = inbound_form("Hola", channel=MessageType.WHATSAPP)
    response = await post(world.anonymous, world.a.id, "inbound", form)
    assert response.status_code == 200
    [replied] = await activities(session, world.a.id, ActivityType.WHATSAPP_REPLIED)
    # no message went out on WhatsApp: a reply outside any campaign
    assert replied.campaign_id is None
    assert replied.details["channel"] == "whatsapp"
    session.expire_all()
    [conversation] = (await session.scalars(select(Conversation))).all()
    assert conversation.channel == "whatsapp"
    assert conversation.external_id == f"whatsapp:{contact_id}:{WHATSAPP_FROM}"


async def test_stop_opts_the_contact_out_of_the_channel(
    world: World, session: AsyncSession
) -> None:
    await configure_twilio(world.a.admin)
    contact_id = await new_contact(world.a.manager)
    sent = await sent_message(session, world.a.id, contact_id)
    whatsapp = await sent_message(session, world.a.id, contact_id, MessageType.WHATSAPP)
    response = await post(world.anonymous, world.a.id, "inbound", inbound_form(" stop "))
    assert response.status_code == 200
    assert response.text == EMPTY_TWIML
    assert await suppressions(session) == [
        (world.a.id, "sms", ADA_PHONE, SuppressionReason.UNSUBSCRIBED)
    ]
    queued = await row(session, Delivery, sent.queued_id)
    assert queued.status == DeliveryStatus.CANCELLED
    assert queued.last_error == "cancelled: the contact opted out by replying STOP"
    # WhatsApp is another channel: its queued message stays
    assert (await row(session, Delivery, whatsapp.queued_id)).status == DeliveryStatus.QUEUED
    [opted_out] = await activities(session, world.a.id, ActivityType.SMS_OPTED_OUT)
    assert opted_out.details["keyword"] == "STOP"
    assert opted_out.details["channel"] == "sms"
    assert opted_out.campaign_id == sent.campaign_id
    # a keyword is no reply
    assert await activities(session, world.a.id, ActivityType.SMS_REPLIED) == []
    assert await count(session, Conversation) == 0
    # a second STOP changes nothing
    await post(world.anonymous, world.a.id, "inbound", inbound_form("UNSUBSCRIBE"))
    assert len(await activities(session, world.a.id, ActivityType.SMS_OPTED_OUT)) == 1


async def test_whatsapp_stop(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    await new_contact(world.a.manager)
    form = inbound_form("Stop", channel=MessageType.WHATSAPP)
    assert (await post(world.anonymous, world.a.id, "inbound", form)).status_code == 200
    assert await suppressions(session) == [
        (world.a.id, "whatsapp", ADA_PHONE, SuppressionReason.UNSUBSCRIBED)
    ]
    [opted_out] = await activities(session, world.a.id, ActivityType.SMS_OPTED_OUT)
    assert opted_out.details["channel"] == "whatsapp"


async def test_start_lifts_only_a_stop(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    await new_contact(world.a.manager)
    await post(world.anonymous, world.a.id, "inbound", inbound_form("STOP"))
    assert len(await suppressions(session)) == 1
    response = await post(world.anonymous, world.a.id, "inbound", inbound_form("start"))
    assert (response.status_code, response.text) == (200, EMPTY_TWIML)
    assert await suppressions(session) == []
    # a suppression for another reason (here an admin's) is not the contact's to lift
    session.add(
        Suppression(
            company_id=world.a.id,
            channel=MessageType.SMS,
            address=ADA_PHONE,
            reason=SuppressionReason.MANUAL,
        )
    )
    await session.commit()
    await post(world.anonymous, world.a.id, "inbound", inbound_form("UNSTOP"))
    assert len(await suppressions(session)) == 1


async def test_help_answers_with_the_help_text(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    await new_contact(world.a.manager)
    response = await post(world.anonymous, world.a.id, "inbound", inbound_form("help"))
    assert response.status_code == 200
    assert "<Message>Company A: reply STOP to unsubscribe" in response.text
    patched = await world.a.admin.patch(
        "/api/v1/company", json={"sms_help_text": "Acme & Co: call 555-0100 <help>"}
    )
    assert patched.status_code == 200, patched.text
    form = inbound_form("INFO")
    response = await post(world.anonymous, world.a.id, "inbound", form)
    assert response.text == (
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<Response><Message>Acme &amp; Co: call 555-0100 &lt;help&gt;</Message></Response>"
    )
    # Twilio retrying the request gets the same answer
    again = await post(world.anonymous, world.a.id, "inbound", form)
    assert again.text == response.text
    assert await activities(session, world.a.id) == []


async def test_an_unknown_sender_changes_nothing(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    await new_contact(world.a.manager)
    form = inbound_form("Who is this?", sender="+14155550199")
    response = await post(world.anonymous, world.a.id, "inbound", form)
    assert (response.status_code, response.text) == (200, EMPTY_TWIML)
    assert await count(session, InboundEvent) == 1
    assert await activities(session, world.a.id) == []
    assert await count(session, Conversation) == 0
    contacts = await world.a.manager.get("/api/v1/contacts")
    assert contacts.json()["total"] == 1


async def test_stop_from_an_unknown_sender_still_suppresses_the_number(
    world: World, session: AsyncSession
) -> None:
    await configure_twilio(world.a.admin)
    form = inbound_form("STOP", sender="+14155550199")
    assert (await post(world.anonymous, world.a.id, "inbound", form)).status_code == 200
    assert await suppressions(session) == [
        (world.a.id, "sms", "+14155550199", SuppressionReason.UNSUBSCRIBED)
    ]
    assert await activities(session, world.a.id) == []


async def test_a_repeated_message_is_applied_once(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    await new_contact(world.a.manager)
    form = inbound_form("Sounds good")
    for _ in range(2):
        response = await post(world.anonymous, world.a.id, "inbound", form)
        assert (response.status_code, response.text) == (200, EMPTY_TWIML)
    assert len(await activities(session, world.a.id, ActivityType.SMS_REPLIED)) == 1
    session.expire_all()
    [conversation] = (await session.scalars(select(Conversation))).all()
    assert len(conversation.messages) == 1


async def test_companies_are_kept_apart(world: World, session: AsyncSession) -> None:
    await configure_twilio(world.a.admin)
    await configure_twilio(world.b.admin, ACCOUNT_B)
    await new_contact(world.a.manager)
    b_contact = await new_contact(world.b.manager)  # the same phone, in company B
    b_sent = await sent_message(session, world.b.id, b_contact)
    for body in ("STOP", "Hello"):
        response = await post(world.anonymous, world.a.id, "inbound", inbound_form(body))
        assert response.status_code == 200
    # A's status callback naming B's message finds nothing
    form = status_form(b_sent.sid, "delivered")
    assert (await post(world.anonymous, world.a.id, "status", form)).status_code == 204
    assert [s[0] for s in await suppressions(session)] == [world.a.id]
    assert await activities(session, world.b.id) == []
    b_delivery = await row(session, Delivery, b_sent.delivery_id)
    assert b_delivery.status == DeliveryStatus.SENT
    assert (await row(session, Delivery, b_sent.queued_id)).status == DeliveryStatus.QUEUED
    # the same MessageSid in B's webhook is B's own event, not a duplicate of A's
    b_form = status_form(b_sent.sid, "delivered", account_sid=ACCOUNT_B)
    assert (await post(world.anonymous, world.b.id, "status", b_form)).status_code == 204
    assert [a.activity_type for a in await activities(session, world.b.id)] == [
        ActivityType.SMS_DELIVERED
    ]
    b_activity = await session.scalar(
        select(func.count()).where(CampaignActivity.company_id == world.b.id)
    )
    assert b_activity == 1
