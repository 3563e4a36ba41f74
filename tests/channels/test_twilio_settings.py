"""The Twilio channel settings: set by an admin, the auth token encrypted and never shown; the
sending rate each kind of number allows; test-sends through the fake Twilio server."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.channels.twilio_settings import sms_rate
from tests.campaigns.conftest import CAMPAIGNS, add_step, new_campaign
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, VOICE_FROM
from tests.fixtures.twilio import FakeTwilio
from tests.fixtures.world import World

TWILIO = "/api/v1/channels/twilio"
SERVICE_SID = "MG" + "2" * 32


def body(**changes: Any) -> dict[str, Any]:
    return {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "sms_from": SMS_FROM, **changes}


async def test_unset_settings_read_empty_with_the_webhook_urls(world: World) -> None:
    response = await world.a.admin.get(TWILIO)
    assert response.status_code == 200
    settings = response.json()
    assert settings["account_sid"] is None
    assert settings["auth_token_set"] is False
    assert settings["webhooks"]["incoming_messages"].endswith(
        f"/webhooks/twilio/{world.a.id}/messages/inbound"
    )


async def test_settings_are_saved_and_the_token_is_never_returned(
    world: World, session: AsyncSession
) -> None:
    response = await world.a.admin.put(TWILIO, json=body(transfer_number="+15005550099"))
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["account_sid"] == ACCOUNT_SID
    assert saved["auth_token_set"] is True
    assert saved["sms_rate_per_second"] == 1.0
    assert AUTH_TOKEN not in response.text
    assert AUTH_TOKEN not in (await world.a.admin.get(TWILIO)).text
    stored = await session.scalar(
        text("SELECT secret_ciphertext FROM channel_settings WHERE channel = 'twilio'")
    )
    assert stored is not None
    assert AUTH_TOKEN.encode() not in stored  # encrypted at rest

    # omitting the token keeps it; the rest is replaced
    again = await world.a.admin.put(
        TWILIO, json={"account_sid": ACCOUNT_SID, "voice_from": VOICE_FROM}
    )
    assert again.status_code == 200, again.text
    assert again.json()["auth_token_set"] is True
    assert again.json()["sms_from"] is None
    assert again.json()["voice_from"] == VOICE_FROM


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"account_sid": "AC123", "auth_token": AUTH_TOKEN, "sms_from": SMS_FROM}, "account_sid"),
        (body(sms_from="not a number"), "sms_from"),
        (body(messaging_service_sid="MG1"), "messaging_service_sid"),
        (body(transfer_number="0044 20 7946 0000"), "transfer_number"),
        (body(auth_token="short"), "auth_token"),
        (body(sms_from=None), None),  # no sender at all
        (body(messaging_service_rate=5), "messaging_service_rate"),  # without a service
        (body(unknown_field=1), "unknown_field"),
        ({"auth_token": AUTH_TOKEN, "sms_from": SMS_FROM}, "account_sid"),
    ],
)
async def test_bad_settings_are_refused_with_the_field_named(
    world: World, payload: dict[str, Any], field: str | None
) -> None:
    response = await world.a.admin.put(TWILIO, json=payload)
    assert response.status_code == 422, response.text
    problem = response.json()
    if field is not None:
        assert any(field in error["loc"] for error in problem["errors"]), problem


async def test_a_first_save_needs_the_token(world: World) -> None:
    response = await world.a.admin.put(
        TWILIO, json={"account_sid": ACCOUNT_SID, "sms_from": SMS_FROM}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "auth_token"]


async def test_only_admins_see_or_change_twilio_settings(world: World) -> None:
    for client in (world.a.manager, world.a.agent):
        assert (await client.get(TWILIO)).status_code == 403
        assert (await client.put(TWILIO, json=body())).status_code == 403
    assert (await world.anonymous.get(TWILIO)).status_code == 401


async def test_each_company_has_its_own_settings(world: World) -> None:
    assert (await world.a.admin.put(TWILIO, json=body())).status_code == 200
    other = (await world.b.admin.get(TWILIO)).json()
    assert other["account_sid"] is None
    assert other["auth_token_set"] is False


async def test_a_messaging_service_sends_at_its_configured_rate(world: World) -> None:
    response = await world.a.admin.put(
        TWILIO,
        json=body(sms_from=None, messaging_service_sid=SERVICE_SID, messaging_service_rate=25),
    )
    assert response.status_code == 200, response.text
    assert response.json()["sms_rate_per_second"] == 25


@pytest.mark.parametrize(
    ("sender", "service", "rate"),
    [
        ("+14155550100", None, 1.0),  # a long code
        ("+18005550100", None, 3.0),  # toll-free
        ("+18885550100", None, 3.0),
        ("12345", None, 100.0),  # a short code
        ("+447700900123", None, 1.0),
        (None, SERVICE_SID, 1.0),  # a service of unknown size: one number's rate
        (None, None, None),
    ],
)
def test_each_kind_of_number_has_its_rate(
    sender: str | None, service: str | None, rate: float | None
) -> None:
    assert sms_rate(sender, service, None) == rate


# --- test-send through Twilio -------------------------------------------------------------------


async def test_an_sms_test_send_goes_through_twilio(world: World, twilio: FakeTwilio) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type="sms")
    step = await add_step(world.a.manager, campaign["id"], body="Hi {{first_name|there}}!")
    response = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "+14155550177"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "twilio"
    [message] = twilio.messages
    assert message.to == "+14155550177"
    assert message.body == "Hi Alex!"  # the sample contact


async def test_a_voice_test_send_reads_the_script(world: World, twilio: FakeTwilio) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type="voice")
    step = await add_step(world.a.manager, campaign["id"], body="Hello {{first_name|there}}.")
    response = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "+14155550178"},
    )
    assert response.status_code == 200, response.text
    [call] = twilio.calls
    assert call.to == "+14155550178"
    assert "Hello Alex." in call.form["Twiml"]


async def test_a_refused_test_send_is_a_502_naming_twilios_error(
    world: World, twilio: FakeTwilio
) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type="sms")
    step = await add_step(world.a.manager, campaign["id"], body="Hi")
    twilio.fail_next(21211, message="Invalid 'To' Phone Number")
    response = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "+14155550179"},
    )
    assert response.status_code == 502
    assert "21211" in response.json()["detail"]
