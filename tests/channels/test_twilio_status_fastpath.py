"""The status-callback fast path: it records the ordinary callback itself, hands everything
else to the endpoint, and a callback that beats the sender's own record is not lost."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.channels.base import OutboundMessage
from agentconnect.channels.registry import close_provider
from agentconnect.channels.twilio_settings import CACHE
from agentconnect.db import Database
from agentconnect.delivery import repository as repo
from agentconnect.delivery.engine import Engine
from agentconnect.models import CampaignActivity, Delivery, MessageType
from tests.campaigns.conftest import CAMPAIGNS, add_step, contact, new_campaign
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN, daytime_zone, now
from tests.fixtures.twilio import FakeTwilio
from tests.fixtures.world import World


async def _queued_sms(world: World, engine: Engine) -> dict[str, Any]:
    campaign = await new_campaign(world.a.manager, campaign_type="sms")
    await add_step(
        world.a.manager,
        campaign["id"],
        delay_value=0,
        delay_unit="minutes",
        body="Hi {{first_name}}",
    )
    person = await contact(
        world.a.admin, first_name="Kim", phone="+14155550190", timezone=daytime_zone(now())
    )
    enrolled = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [person["id"]]}
    )
    assert enrolled.status_code == 200
    assert (await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")).status_code == 200
    await engine.schedule(now())
    return person


async def test_the_fast_path_records_ordinary_callbacks_itself(
    world: World, twilio: FakeTwilio, engine: Engine, session: AsyncSession
) -> None:
    await _queued_sms(world, engine)
    CACHE.forget(world.a.id)
    await engine.send(now())
    [message] = twilio.messages

    response = await twilio.message_status(message.sid, "delivered")

    assert response.status_code == 204
    assert response.content == b""  # the fast path's answer: the endpoint's is the same
    known, config = CACHE.get(world.a.id, _loop_time())
    assert known  # the fast path read (and keeps for a moment) the company's settings
    assert config is not None
    assert config.account_sid == ACCOUNT_SID
    status = await session.scalar(text("SELECT status FROM deliveries"))
    assert status == "delivered"
    # each answer is its own: headers added outside do not pile up from one to the next
    again = await twilio.message_status(message.sid, "read")
    assert len(again.headers.get_list("x-request-id")) == 1


async def test_saving_the_settings_forgets_the_cached_ones(
    world: World, twilio: FakeTwilio, engine: Engine
) -> None:
    await _queued_sms(world, engine)
    await engine.send(now())
    [message] = twilio.messages
    assert (await twilio.message_status(message.sid, "sent")).status_code == 204
    rotated = "f" * 32
    saved = await world.a.admin.put(
        "/api/v1/channels/twilio",
        json={"account_sid": ACCOUNT_SID, "auth_token": rotated, "sms_from": "+15005550006"},
    )
    assert saved.status_code == 200
    twilio.add_account(ACCOUNT_SID, rotated)

    # signed with the old token: refused at once, not after the cache expires
    form = {"AccountSid": ACCOUNT_SID, "MessageSid": message.sid, "MessageStatus": "delivered"}
    url = message.status_callback
    assert url is not None
    old = twilio.sign(url, form, AUTH_TOKEN)
    path = url.split("http://127.0.0.1:8000", 1)[1]
    refused = await world.anonymous.post(path, data=form, headers={"X-Twilio-Signature": old})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    accepted = await twilio.message_status(message.sid, "delivered")
    assert accepted.status_code == 204


async def test_a_callback_that_comes_before_the_senders_record_is_not_lost(
    world: World, twilio: FakeTwilio, engine: Engine, database: Database, session: AsyncSession
) -> None:
    """Twilio can report `delivered` before the sender has committed the message's SID: the
    callback URL names the delivery, so the report lands, and the sender's record after it
    keeps the later state and still writes `sms_sent`."""
    await _queued_sms(world, engine)
    lease = engine.sender.settings.lease
    async with database.unit_of_work() as tx:
        [row] = await repo.lease_queued(tx, now(), now() + lease, "worker-1", 10)
        provider = await engine._provider(tx, row.company_id, MessageType.SMS)
    try:
        result = await provider.send(
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

    # the report, before the sender records anything
    assert (await twilio.message_status(result.provider_message_id, "delivered")).status_code == 204
    early = await session.scalar(select(Delivery).where(Delivery.id == row.id))
    assert early is not None
    assert early.provider_message_id == result.provider_message_id
    assert early.status == "delivered"

    async with database.unit_of_work() as tx:
        recorded = await repo.record_sent(
            tx,
            [
                {
                    "id": row.id,
                    "attempts": row.attempts,
                    "sent_at": now(),
                    "contact_id": row.contact_id,
                    "provider": "twilio",
                    "provider_message_id": result.provider_message_id,
                    "provider_status": result.status,
                    "segments": result.segments,
                }
            ],
            "worker-1",
        )
    assert recorded == {row.id}  # the sender still owns it: its `sms_sent` follows
    final = await session.scalar(
        select(Delivery).where(Delivery.id == row.id).execution_options(populate_existing=True)
    )
    assert final is not None
    assert final.status == "delivered"  # not back to `sent`
    assert final.provider_status == "delivered"
    kinds = await session.scalars(
        select(CampaignActivity.activity_type).where(CampaignActivity.contact_id == row.contact_id)
    )
    assert "sms_delivered" in set(kinds)


async def test_a_malformed_company_and_a_get_are_left_to_the_endpoint(world: World) -> None:
    fake_company = uuid.uuid4()
    posted = await world.anonymous.post(
        f"/webhooks/twilio/{fake_company}/messages/status",
        data={"MessageSid": "SM1", "MessageStatus": "sent"},
        headers={"X-Twilio-Signature": "x"},
    )
    assert posted.status_code == 403  # no settings for that company: the endpoint's problem
    fetched = await world.anonymous.get(f"/webhooks/twilio/{fake_company}/messages/status")
    assert fetched.status_code == 405


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
