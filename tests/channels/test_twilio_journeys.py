"""Whole journeys through Twilio: the delivery engine sends with the real `twilio` SDK to the
fake Twilio server on loopback, and the fake calls the app back with signed webhooks."""

from __future__ import annotations

import itertools
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.channels.base import OutboundMessage
from agentconnect.channels.registry import close_provider
from agentconnect.config import Settings
from agentconnect.db import Database
from agentconnect.delivery import repository as repo
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.delivery.sender import SenderSettings
from agentconnect.models import CampaignActivity, Conversation, Delivery, Lead, MessageType
from tests.campaigns.conftest import CAMPAIGNS, add_step, contact, new_campaign
from tests.channels.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SMS_FROM,
    TRANSFER_TO,
    VOICE_FROM,
    WHATSAPP_FROM,
    daytime_zone,
    night_zone,
    now,
)
from tests.fixtures.twilio import FakeTwilio
from tests.fixtures.world import World


async def _enrolled(world: World, campaign: dict[str, Any], people: list[dict[str, Any]]) -> None:
    ids = [person["id"] for person in people]
    enrolled = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": ids}
    )
    assert enrolled.status_code == 200, enrolled.text
    started = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    assert started.status_code == 200, started.text


async def _activities(session: AsyncSession, contact_id: str) -> list[str]:
    """The contact's activity types, sorted by name: the engine runs on a simulated clock a
    little ahead of the webhooks' real one, so the order in time says nothing here."""
    rows = await session.scalars(
        select(CampaignActivity.activity_type).where(
            CampaignActivity.contact_id == uuid.UUID(contact_id)
        )
    )
    return sorted(str(kind) for kind in rows)


def _said(twiml: str) -> list[str]:
    root = ET.fromstring(twiml)  # noqa: S314 - TwiML the app under test wrote
    return [element.text or "" for element in root.iter("Say")]


# --- voice ------------------------------------------------------------------------------------


async def _voice_campaign(world: World, **campaign: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    campaign.setdefault("call_flow_config", {})
    created = await new_campaign(world.a.manager, campaign_type="voice", **campaign)
    await add_step(
        world.a.manager,
        created["id"],
        delay_value=0,
        delay_unit="minutes",
        body="Hi {{first_name|there}}, this is {{company.name}} calling about your trial.",
        voicemail_message="Hi {{first_name}}, sorry we missed you. Call us back any time.",
    )
    person = await contact(
        world.a.admin,
        first_name="Dana",
        phone="+14155550123",
        timezone=daytime_zone(now()),
    )
    return created, person


async def _placed_call(
    world: World, engine: Engine, twilio: FakeTwilio
) -> tuple[dict[str, Any], Any]:
    """A contact of a started voice campaign, and the call the engine placed to them."""
    campaign, person = await _voice_campaign(world)
    await _enrolled(world, campaign, [person])
    await engine.tick(now())
    [call] = twilio.calls
    return person, call


async def test_a_call_answered_by_a_machine_leaves_the_voicemail(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    campaign, person = await _voice_campaign(world)
    await _enrolled(world, campaign, [person])

    outcome = await engine.tick(now())

    assert outcome.sent.sent == 1
    [call] = twilio.calls
    assert call.to == "+14155550123"
    assert call.from_ == VOICE_FROM
    assert call.machine_detection == "DetectMessageEnd"
    assert call.async_amd
    assert call.url is not None
    assert "/voice/twiml?delivery=" in call.url
    greeting = await twilio.answer_call(call.sid, answered_by="machine_end_beep")
    assert greeting.status_code == 200, greeting.text

    # the live call was redirected to the voicemail, said after the beep
    [update] = call.updates
    assert _said(update["Twiml"]) == ["Hi Dana, sorry we missed you. Call us back any time."]
    assert "<Hangup" in update["Twiml"]
    kinds = await _activities(session, person["id"])
    assert kinds == ["call_initiated", "enrolled", "voicemail_left"]
    # Twilio retrying the AMD callback changes nothing
    await twilio.amd_result(call.sid, "machine_end_beep")
    assert len(call.updates) == 1
    assert (await _activities(session, person["id"])).count("voicemail_left") == 1

    await twilio.call_status(call.sid, "completed", duration=31)
    kinds = await _activities(session, person["id"])
    assert "call_completed" in kinds
    completed = await session.scalar(
        select(CampaignActivity).where(CampaignActivity.activity_type == "call_completed")
    )
    assert completed is not None
    assert completed.details["duration_seconds"] == 31
    assert completed.details["outcome"] == "voicemail"


async def test_a_person_answers_the_agents_questions_and_the_lead_is_qualified(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    campaign, person = await _voice_campaign(world)
    lead = await world.a.manager.post(
        "/api/v1/leads", json={"contact_id": person["id"], "title": "Dana's trial"}
    )
    assert lead.status_code == 201, lead.text
    await _enrolled(world, campaign, [person])
    await engine.tick(now())
    [call] = twilio.calls

    twiml = (await twilio.answer_call(call.sid, answered_by="human")).text
    assert "Company A" in _said(twiml)[0]
    assert "Dana" in _said(twiml)[0]
    assert call.updates == []  # a person: the agent goes on
    answers = [
        "Yes, sure, go ahead",
        "We have about fifty thousand dollars set aside",
        "Within three months",
        "Yes, I'm the one who signs off",
        "Around 120 people",
        "Tomorrow at 3pm works",
    ]
    for answer in answers:
        response = await twilio.gather(call.sid, twiml, answer)
        assert response.status_code == 200, response.text
        twiml = response.text
    assert "<Hangup" in twiml
    assert "<Gather" not in twiml

    await twilio.call_status(call.sid, "in-progress")
    await twilio.recording(
        call.sid, call.form["RecordingStatusCallback"], recording_sid="RE1", duration=95
    )
    await twilio.call_status(call.sid, "completed", duration=96)

    stored = await session.scalar(select(Lead).where(Lead.id == uuid.UUID(lead.json()["id"])))
    assert stored is not None
    data = stored.qualification_data
    assert data["budget_confirmed"] is True
    assert data["budget_amount"] == 50000
    assert data["timeline_defined"] is True
    assert data["timeline_months"] == 3
    assert data["decision_maker"] is True
    assert data["company_size"] == "51-200"
    assert data["questions_total"] == 4
    assert data["questions_answered"] == 4
    kinds = await _activities(session, person["id"])
    assert kinds == [
        "call_answered", "call_completed", "call_initiated", "enrolled", "meeting_scheduled",
    ]  # fmt: skip
    conversation = await session.scalar(
        select(Conversation).where(Conversation.external_id == call.sid)
    )
    assert conversation is not None
    assert conversation.channel == "call"
    roles = [message["role"] for message in conversation.messages]
    assert roles.count("contact") == len(answers)
    assert conversation.messages[1]["text"] == answers[0]
    assert conversation.details["outcome"] == "completed"
    assert conversation.details["recordings"][0]["url"].endswith("/Recordings/RE1")
    assert conversation.details["recordings"][0]["duration_seconds"] == 95
    delivery = await session.scalar(
        select(Delivery).where(Delivery.provider_message_id == call.sid)
    )
    assert delivery is not None
    assert delivery.status == "delivered"
    # the transcript is a conversation like any other: readable, and its intents detected
    listed = await world.a.manager.get(f"/api/v1/conversations?contact_id={person['id']}")
    [session_out] = listed.json()["items"]
    assert session_out["external_id"] == call.sid
    assert session_out["details"]["outcome"] == "completed"
    assert "agent_state" not in session_out["details"]
    assert "decision_maker" in {match["intent"] for match in session_out["intent_matches"]}


async def test_asking_for_a_person_transfers_the_call(
    world: World, twilio: FakeTwilio, engine: Engine
) -> None:
    _, call = await _placed_call(world, engine, twilio)
    twiml = (await twilio.answer_call(call.sid)).text
    response = await twilio.gather(call.sid, twiml, "Can I talk to a real person please")
    root = ET.fromstring(response.text)  # noqa: S314
    dial = root.find("Dial")
    assert dial is not None
    assert (dial.text or "").strip() == TRANSFER_TO


async def test_call_callbacks_out_of_order_never_move_the_call_back(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    person, call = await _placed_call(world, engine, twilio)
    await twilio.call_status(call.sid, "completed", duration=12, check_subscribed=False)
    await twilio.call_status(call.sid, "ringing", check_subscribed=False)
    await twilio.call_status(call.sid, "in-progress", check_subscribed=False)
    await twilio.call_status(call.sid, "completed", duration=12, check_subscribed=False)
    kinds = await _activities(session, person["id"])
    assert kinds == ["call_completed", "call_initiated", "enrolled"]
    delivery = await session.scalar(
        select(Delivery).where(Delivery.provider_message_id == call.sid)
    )
    assert delivery is not None
    assert delivery.provider_status == "completed"


async def test_a_busy_line_fails_the_delivery(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    person, call = await _placed_call(world, engine, twilio)
    await twilio.call_status(call.sid, "busy", check_subscribed=False)
    kinds = await _activities(session, person["id"])
    assert kinds == ["call_busy", "call_initiated", "enrolled"]
    delivery = await session.scalar(
        select(Delivery).where(Delivery.provider_message_id == call.sid)
    )
    assert delivery is not None
    assert delivery.status == "failed"


async def test_voice_webhooks_refuse_a_forged_signature(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    person, call = await _placed_call(world, engine, twilio)
    assert call.status_callback is not None
    assert call.url is not None
    public = call.url.split("/webhooks/")[0]
    for url in (call.url, call.status_callback, call.async_amd_status_callback):
        assert url is not None
        form = {"CallSid": call.sid, "AccountSid": ACCOUNT_SID, "AnsweredBy": "machine_end_beep",
                "CallStatus": "completed"}  # fmt: skip
        path = url.removeprefix(public)
        forged = await world.anonymous.post(
            path, data=form, headers={"X-Twilio-Signature": "forged"}
        )
        assert forged.status_code == 403
        missing = await world.anonymous.post(path, data=form)
        assert missing.status_code == 403
        # signed for another company's URL: refused here
        wrong_company = path.replace(str(world.a.id), str(world.b.id))
        signature = twilio.sign(public + wrong_company, form, AUTH_TOKEN)
        moved = await world.anonymous.post(
            wrong_company, data=form, headers={"X-Twilio-Signature": signature}
        )
        assert moved.status_code == 403
    assert call.updates == []
    kinds = await _activities(session, person["id"])
    assert kinds == ["call_initiated", "enrolled"]
    events = await session.scalar(text("SELECT count(*) FROM inbound_events"))
    assert events == 0


# --- SMS and WhatsApp ---------------------------------------------------------------------------

PHONE = "+14155550142"


async def _text_campaign(
    world: World, channel: str = "sms", steps: int = 2, **step: Any
) -> dict[str, Any]:
    campaign = await new_campaign(world.a.manager, campaign_type=channel, goal_type="reply")
    for order in range(steps):
        await add_step(
            world.a.manager,
            campaign["id"],
            delay_value=0 if order == 0 else 1,
            delay_unit="minutes" if order == 0 else "days",
            body=step.get("body", "Hi {{first_name|there}}, step " + str(order + 1)),
            **{k: v for k, v in step.items() if k != "body"},
        )
    return campaign


async def _texter(world: World, **fields: Any) -> dict[str, Any]:
    fields.setdefault("first_name", "Robin")
    fields.setdefault("phone", PHONE)
    fields.setdefault("timezone", daytime_zone(now()))
    return await contact(world.a.admin, **fields)


async def _one_enrolled(world: World) -> dict[str, Any]:
    """A contact enrolled in a started one-step SMS campaign."""
    campaign = await _text_campaign(world, steps=1)
    person = await _texter(world)
    await _enrolled(world, campaign, [person])
    return person


async def _whatsapp_writer(world: World, twilio: FakeTwilio, settings: Settings) -> dict[str, Any]:
    """A contact who just wrote to the company on WhatsApp: its 24-hour window is open."""
    person = await _texter(world)
    said = await twilio.inbound_message(
        _inbound_url(world, settings), ACCOUNT_SID, f"whatsapp:{PHONE}",
        f"whatsapp:{WHATSAPP_FROM}", "Hello?",
    )  # fmt: skip
    assert said.status_code == 200, said.text
    return person


def _inbound_url(world: World, settings: Settings) -> str:
    return f"{str(settings.base_url).rstrip('/')}/webhooks/twilio/{world.a.id}/messages/inbound"


async def _delivery(session: AsyncSession, sid: str) -> Delivery:
    found = await session.scalar(
        select(Delivery)
        .where(Delivery.provider_message_id == sid)
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


async def test_an_sms_campaign_is_delivered_replied_to_and_reaches_its_goal(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession, settings: Settings
) -> None:
    campaign = await _text_campaign(world)
    person = await _texter(world)
    await _enrolled(world, campaign, [person])

    assert (await engine.tick(now())).sent.sent == 1
    [message] = twilio.messages
    assert message.to == PHONE
    assert message.from_ == SMS_FROM
    assert message.body == "Hi Robin, step 1"
    assert message.status_callback is not None
    delivery = await _delivery(session, message.sid)
    assert message.status_callback.endswith(
        f"/webhooks/twilio/{world.a.id}/messages/status?delivery={delivery.id}"
    )
    delivery = await _delivery(session, message.sid)
    assert delivery.segments == 1
    assert delivery.provider == "twilio"

    for status in ("sent", "delivered"):
        assert (await twilio.message_status(message.sid, status)).status_code in (200, 204)
    delivery = await _delivery(session, message.sid)
    assert delivery.status == "delivered"
    assert delivery.provider_status == "delivered"

    reply = await twilio.inbound_message(
        _inbound_url(world, settings), ACCOUNT_SID, PHONE, SMS_FROM, "Sounds good, tell me more"
    )
    assert reply.status_code == 200, reply.text
    kinds = await _activities(session, person["id"])
    assert kinds == ["enrolled", "goal_achieved", "sms_delivered", "sms_replied", "sms_sent"] or (
        kinds == ["enrolled", "sms_delivered", "sms_replied", "sms_sent"]
    )
    enrollment = (await world.a.manager.get(f"{CAMPAIGNS}/{campaign['id']}/contacts")).json()[
        "items"
    ][0]
    assert enrollment["status"] == "goal_achieved"

    # the second step, a day later, is never sent
    await engine.tick(now() + timedelta(days=2))
    assert len(twilio.messages) == 1


async def test_a_stop_reply_opts_out_and_nothing_more_is_sent(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession, settings: Settings
) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type="sms")  # no goal: all steps
    for order in range(2):
        await add_step(
            world.a.manager, campaign["id"], delay_value=order, delay_unit="days",
            body=f"Step {order + 1}",
        )  # fmt: skip
    person = await _texter(world)
    await _enrolled(world, campaign, [person])
    await engine.tick(now())
    assert len(twilio.messages) == 1

    answer = await twilio.inbound_message(
        _inbound_url(world, settings), ACCOUNT_SID, PHONE, SMS_FROM, " stop "
    )
    assert answer.status_code == 200, answer.text
    assert "sms_opted_out" in await _activities(session, person["id"])

    await engine.tick(now() + timedelta(days=2))
    assert len(twilio.messages) == 1  # nothing more
    kinds = await _activities(session, person["id"])
    assert "sms_replied" not in kinds  # a keyword is not a reply
    assert kinds.count("sms_sent") == 1


async def test_a_twilio_refusal_for_an_unsubscribed_number_suppresses_it(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    person = await _one_enrolled(world)
    twilio.fail_next(21610, message="Attempt to send to unsubscribed recipient")

    outcome = await engine.tick(now())

    assert outcome.sent.failed == 1
    assert twilio.messages == []
    kinds = await _activities(session, person["id"])
    assert "message_failed" in kinds
    suppressed = await session.scalar(
        text("SELECT reason FROM suppressions WHERE channel = 'sms' AND address = :phone"),
        {"phone": PHONE},
    )
    assert suppressed == "unsubscribed"


async def test_an_invalid_number_fails_and_throttling_is_retried_after_retry_after(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    campaign = await _text_campaign(world, steps=1)
    first = await _texter(world)
    second = await _texter(world, phone="+14155550143", first_name="Sam")
    await _enrolled(world, campaign, [first, second])
    twilio.fail_next(21211, message="Invalid 'To' Phone Number")
    twilio.fail_next(20429, status=429, message="Too Many Requests", retry_after=120)

    outcome = await engine.tick(now())

    assert outcome.sent.failed == 1
    assert outcome.sent.retried == 1
    rows = (
        await session.execute(
            text("SELECT status, not_before, last_error FROM deliveries ORDER BY status")
        )
    ).all()
    failed = next(row for row in rows if row.status == "failed")
    queued = next(row for row in rows if row.status == "queued")
    assert "21211" in failed.last_error
    assert "20429" in queued.last_error
    # Twilio's Retry-After (120 s) decides when the retry goes, not the default backoff
    assert timedelta(seconds=110) < queued.not_before - now() < timedelta(seconds=200)
    later = await engine.tick(now() + timedelta(minutes=5))
    assert later.sent.sent == 1
    assert len(twilio.messages) == 1


async def test_sms_keeps_to_the_long_codes_rate(
    world: World, twilio: FakeTwilio, engine: Engine
) -> None:
    campaign = await _text_campaign(world, steps=1)
    people = [await _texter(world, phone=f"+1415555016{n}", first_name=f"P{n}") for n in range(3)]
    await _enrolled(world, campaign, people)

    await engine.tick(now())

    created = sorted(message.created for message in twilio.messages)
    assert len(created) == 3
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(created)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # a long code sends one per second


async def test_sms_waits_for_the_end_of_the_contacts_quiet_hours(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    campaign = await _text_campaign(world, steps=1)
    person = await _texter(world, timezone=night_zone(now()))
    await _enrolled(world, campaign, [person])

    outcome = await engine.tick(now())

    assert outcome.scheduled.held == 1
    assert twilio.messages == []
    morning = await session.scalar(text("SELECT next_step_at FROM campaign_contacts"))
    local = morning.astimezone(ZoneInfo(person["timezone"]))
    assert (local.hour, local.minute) == (8, 0)


async def test_a_retry_that_comes_due_at_night_waits_for_the_morning(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    """The engine checks quiet hours again when it sends: a retry's backoff can end at night."""
    person = await _one_enrolled(world)
    twilio.fail_next(20429, status=429, message="Too Many Requests", retry_after=60)
    await engine.tick(now())
    # the contact moved to where it is now night; the retry comes due there
    await world.a.admin.patch(
        f"/api/v1/contacts/{person['id']}", json={"timezone": night_zone(now())}
    )

    outcome = await engine.tick(now() + timedelta(minutes=2))

    assert outcome.sent.held == 1
    assert twilio.messages == []
    row = (await session.execute(text("SELECT status, attempts, not_before FROM deliveries"))).one()
    assert row.status == "queued"
    assert row.attempts == 1
    local = row.not_before.astimezone(ZoneInfo(night_zone(now())))
    assert (local.hour, local.minute) == (8, 0)


async def test_whatsapp_outside_the_24_hours_needs_a_template(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession, settings: Settings
) -> None:
    free_form = await _text_campaign(world, channel="whatsapp", steps=1)
    person = await _texter(world)
    await _enrolled(world, free_form, [person])

    await engine.tick(now())

    assert twilio.messages == []
    skipped = await session.scalar(
        select(CampaignActivity).where(CampaignActivity.activity_type == "step_skipped")
    )
    assert skipped is not None
    assert "24-hour" in skipped.details["reason"]

    template_sid = "HX" + "a" * 32
    templated = await _text_campaign(
        world,
        channel="whatsapp",
        steps=1,
        whatsapp_template={"content_sid": template_sid, "variables": {"1": "{{first_name}}"}},
    )
    await _enrolled(world, templated, [person])
    await engine.tick(now())
    [message] = twilio.messages
    assert message.to == f"whatsapp:{PHONE}"
    assert message.from_ == f"whatsapp:{WHATSAPP_FROM}"
    assert message.content_sid == template_sid
    assert message.content_variables == {"1": "Robin"}


async def test_whatsapp_inside_the_24_hours_sends_free_form_text(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession, settings: Settings
) -> None:
    person = await _texter(world)
    said = await twilio.inbound_message(
        _inbound_url(world, settings),
        ACCOUNT_SID,
        f"whatsapp:{PHONE}",
        f"whatsapp:{WHATSAPP_FROM}",
        "Hi, is the offer still on?",
    )
    assert said.status_code == 200, said.text
    campaign = await _text_campaign(world, channel="whatsapp", steps=1, body="Yes {{first_name}}!")
    await _enrolled(world, campaign, [person])

    await engine.tick(now())

    [message] = twilio.messages
    assert message.body == "Yes Robin!"
    assert message.content_sid is None
    await twilio.message_status(message.sid, "read")
    await twilio.message_status(message.sid, "delivered")  # late: never after a read
    kinds = await _activities(session, person["id"])
    assert "whatsapp_read" in kinds
    assert "whatsapp_delivered" not in kinds


# --- a sender that dies between Twilio's answer and its own record -----------------------------


async def _lease_as_a_sender_that_dies(database: Database, engine: Engine, *, sends: bool) -> None:
    """Lease the queued delivery as another worker would, send it through Twilio or not, and
    record nothing: what a worker killed at that moment leaves behind."""
    lease = engine.sender.settings.lease
    async with database.unit_of_work() as session:
        [row] = await repo.lease_queued(session, now(), now() + lease, "dead-worker", 10)
        provider = await engine._provider(session, row.company_id, MessageType.SMS)
    try:
        if sends:
            await provider.send(
                OutboundMessage(
                    company_id=row.company_id,
                    channel=MessageType.SMS,
                    to=row.to_address,
                    body=row.body_text,
                    delivery_id=row.id,
                )
            )
    finally:
        await close_provider(provider)


@pytest.mark.parametrize("twilio_took_it", [True, False])
async def test_an_expired_lease_never_sends_a_message_twice_nor_loses_it(
    world: World,
    twilio: FakeTwilio,
    engine: Engine,
    database: Database,
    session: AsyncSession,
    twilio_took_it: bool,
) -> None:
    person = await _one_enrolled(world)
    await engine.schedule(now())
    await _lease_as_a_sender_that_dies(database, engine, sends=twilio_took_it)
    assert len(twilio.messages) == int(twilio_took_it)

    after_lease = now() + engine.sender.settings.lease + timedelta(minutes=1)
    outcome = await engine.tick(after_lease)

    [message] = twilio.messages  # exactly one, either way
    delivery = await _delivery(session, message.sid)
    assert delivery.status == "sent"
    assert outcome.sent.sent == int(not twilio_took_it)  # sent again only if Twilio never had it
    kinds = await _activities(session, person["id"])
    assert kinds.count("sms_sent") == 1


async def test_a_template_only_whatsapp_step_sends_its_template_inside_the_24_hours_too(
    world: World, twilio: FakeTwilio, engine: Engine, settings: Settings
) -> None:
    person = await _whatsapp_writer(world, twilio, settings)
    template = {"content_sid": "HX" + "c" * 32, "variables": {"1": "{{first_name}}"}}
    campaign = await new_campaign(world.a.manager, campaign_type="whatsapp")
    await add_step(
        world.a.manager, campaign["id"], delay_value=0, delay_unit="minutes",
        whatsapp_template=template,
    )  # fmt: skip
    await _enrolled(world, campaign, [person])

    await engine.tick(now())

    [message] = twilio.messages
    assert message.content_sid == template["content_sid"]
    assert message.content_variables == {"1": "Robin"}


async def test_a_voice_webhook_for_a_malformed_company_id_is_refused_like_a_bad_signature(
    world: World, twilio: FakeTwilio
) -> None:
    for path in ("voice/twiml", "voice/status", "messages/status"):
        response = await world.anonymous.post(
            f"/webhooks/twilio/not-a-company/{path}",
            data={"CallSid": "CA1"},
            headers={"X-Twilio-Signature": "x"},
        )
        assert response.status_code == 403, (path, response.text)


async def test_an_expired_lease_waits_while_twilio_cannot_be_asked(
    world: World, twilio: FakeTwilio, engine: Engine, database: Database, session: AsyncSession
) -> None:
    await _one_enrolled(world)
    await engine.schedule(now())
    await _lease_as_a_sender_that_dies(database, engine, sends=True)
    await twilio.stop()  # Twilio unreachable: whether it has the message is unknown

    await engine.upkeep(now() + engine.sender.settings.lease + timedelta(minutes=1))

    row = (await session.execute(text("SELECT status, last_error FROM deliveries"))).one()
    assert row.status == "sending"  # not re-queued: that could send a second copy
    assert row.last_error == "provider lookup pending"

    # past the patience, it goes back to the queue after all
    await engine.upkeep(now() + engine.sender.settings.lease + timedelta(minutes=45))
    status = await session.scalar(
        text("SELECT status FROM deliveries").execution_options(populate_existing=True)
    )
    assert status == "queued"


async def test_an_answer_lost_after_twilio_took_the_message_is_not_sent_again(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    """The request reached Twilio, the answer did not reach us: the retry asks Twilio first."""
    await _one_enrolled(world)
    twilio.lose_next_answer()

    first = await engine.tick(now())

    assert first.sent.retried == 1
    row = (await session.execute(text("SELECT status, last_error FROM deliveries"))).one()
    assert row.status == "queued"
    assert row.last_error.startswith("uncertain: ")
    assert len(twilio.messages) == 1  # Twilio has it

    later = await engine.tick(now() + timedelta(hours=3))

    assert later.sent.sent == 1
    [message] = twilio.messages  # found, not sent a second time
    delivery = await _delivery(session, message.sid)
    assert delivery.status == "sent"


async def test_a_slow_sender_takes_only_what_fits_in_its_lease(
    world: World, twilio: FakeTwilio, database: Database, app: Any, settings: Settings
) -> None:
    """At a long code's one message a second, a batch that would outlast its lease is cut:
    the rest goes back to the queue and is leased afresh, so no lease runs out mid-send."""
    engine = Engine(
        database,
        EngineSettings(
            base_url=str(settings.base_url).rstrip("/"),
            secret_key=app.state.secret_key,
            twilio_api_base=twilio.base_url,
        ),
        SenderSettings(worker_id="slow", batch_size=100, lease=timedelta(seconds=4)),
    )
    campaign = await _text_campaign(world, steps=1)
    people = [await _texter(world, phone=f"+1415555017{n}", first_name=f"P{n}") for n in range(4)]
    await _enrolled(world, campaign, people)

    outcome = await engine.tick(now())

    assert outcome.sent.sent == 4
    assert outcome.sent.deferred >= 2  # two fit in half of a 4-second lease at 1/s
    assert sorted(m.to for m in twilio.messages) == sorted(p["phone"] for p in people)


async def test_an_answer_posted_twice_moves_the_conversation_once(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    _, call = await _placed_call(world, engine, twilio)
    greeting = (await twilio.answer_call(call.sid)).text
    assert (await twilio.fetch_twiml(call.sid)).text == greeting  # a refetch: the same words

    first = await twilio.gather(call.sid, greeting, "Yes, go ahead")
    again = await twilio.gather(call.sid, greeting, "Yes, go ahead")  # Twilio retried it

    assert again.text == first.text
    conversation = await session.scalar(
        select(Conversation).where(Conversation.external_id == call.sid)
    )
    assert conversation is not None
    assert [m["role"] for m in conversation.messages] == ["agent", "contact", "agent"]


async def test_whatsapp_text_that_waited_past_the_24_hours_goes_as_the_template(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession, settings: Settings
) -> None:
    """Queued inside the window, sent after it closed (a campaign paused for a day): the
    template goes instead of the text; a step without one fails with the reason."""
    person = await _whatsapp_writer(world, twilio, settings)
    template = {"content_sid": "HX" + "d" * 32, "variables": {"1": "{{first_name}}"}}
    with_template = await _text_campaign(
        world, channel="whatsapp", steps=1, body="Free text", whatsapp_template=template
    )
    text_only = await _text_campaign(world, channel="whatsapp", steps=1, body="Free text only")
    await _enrolled(world, with_template, [person])
    await _enrolled(world, text_only, [person])
    await engine.schedule(now())  # queued inside the window, as free text

    outcome = await engine.send(now() + timedelta(hours=25))

    [message] = twilio.messages
    assert message.content_sid == template["content_sid"]
    assert message.content_variables == {"1": "Robin"}
    assert outcome.failed == 1
    failed = await session.scalar(text("SELECT last_error FROM deliveries WHERE status = 'failed'"))
    assert "24-hour" in failed


async def test_a_batch_leased_ahead_sends_only_what_its_remaining_lease_covers(
    world: World, twilio: FakeTwilio, database: Database, app: Any, settings: Settings
) -> None:
    """The worker leases its next batch while one goes out; by its turn part of the lease is
    gone. A slow sender then sends only what half of the rest of the lease covers, so no
    lease runs out mid-send and no message goes twice."""
    engine = Engine(
        database,
        EngineSettings(
            base_url=str(settings.base_url).rstrip("/"),
            secret_key=app.state.secret_key,
            twilio_api_base=twilio.base_url,
        ),
        SenderSettings(worker_id="ahead", batch_size=100, lease=timedelta(seconds=10)),
    )
    campaign = await _text_campaign(world, steps=1)
    people = [await _texter(world, phone=f"+1415555018{n}", first_name=f"Q{n}") for n in range(3)]
    await _enrolled(world, campaign, people)
    start = now()
    await engine.schedule(start)

    leased = await engine.sender.lease(start)
    try:
        # 4 s left at one a second: the 2 s half of it covers two
        partly = await engine.sender.send_leased(leased, start + timedelta(seconds=6))
        assert (partly.leased, partly.sent, partly.deferred) == (3, 2, 1)
        again = await engine.sender.lease(start + timedelta(seconds=6))
        # 1 s left: not even one fits, all go back
        late = await engine.sender.send_leased(again, start + timedelta(seconds=15))
        assert (late.leased, late.sent, late.deferred) == (1, 0, 1)
        assert len(twilio.messages) == 2
        fresh = await engine.send(start + timedelta(seconds=15))
        assert fresh.sent == 1
    finally:
        await engine.sender.close()
    assert sorted(m.to for m in twilio.messages) == sorted(p["phone"] for p in people)
