"""Twilio set-up shared by the channel tests: company A's account on the fake Twilio server,
and an engine whose sender talks to it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import AnyHttpUrl

from agentconnect.config import Settings
from agentconnect.db import Database
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.delivery.sender import SenderSettings
from tests.fixtures.twilio import FakeTwilio
from tests.fixtures.world import World

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
SMS_FROM = "+15005550006"
VOICE_FROM = "+15005550007"
WHATSAPP_FROM = "+14155238886"
TRANSFER_TO = "+15005550099"


def now() -> datetime:
    """The engine's clock in these tests is the real one: Twilio's (the fake's) timestamps
    and the engine's must agree, as they do in production."""
    return datetime.now(UTC)


def daytime_zone(moment: datetime) -> str:
    """A zone where `moment` is early afternoon, so quiet hours never hold a journey."""
    for offset in range(-12, 13):
        name = f"Etc/GMT{'+' if offset <= 0 else '-'}{abs(offset)}"
        if 12 <= moment.astimezone(ZoneInfo(name)).hour < 15:
            return name
    raise AssertionError("every hour has a zone where it is early afternoon")


def night_zone(moment: datetime) -> str:
    for offset in range(-12, 13):
        name = f"Etc/GMT{'+' if offset <= 0 else '-'}{abs(offset)}"
        if 1 <= moment.astimezone(ZoneInfo(name)).hour < 4:
            return name
    raise AssertionError("every hour has a zone where it is night")


@pytest.fixture
async def twilio(
    twilio_server: FakeTwilio, world: World, settings: Settings, app: Any
) -> FakeTwilio:
    """The fake Twilio with company A's account, calling back through the in-process app
    (whose REST calls, such as redirecting a live call, go to the fake too)."""
    twilio_server.add_account(ACCOUNT_SID, AUTH_TOKEN)
    app.state.settings = settings.model_copy(
        update={"twilio_api_base": AnyHttpUrl(twilio_server.base_url)}
    )
    public = str(settings.base_url).rstrip("/")

    async def deliver(url: str, form: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        assert url.startswith(public), url  # Twilio calls the public URL the app gave it
        return await world.anonymous.post(url.removeprefix(public), data=form, headers=headers)

    twilio_server.deliver = deliver
    response = await world.a.admin.put(
        "/api/v1/channels/twilio",
        json={
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "sms_from": SMS_FROM,
            "whatsapp_from": WHATSAPP_FROM,
            "voice_from": VOICE_FROM,
            "transfer_number": TRANSFER_TO,
        },
    )
    assert response.status_code == 200, response.text
    return twilio_server


@pytest.fixture
def engine(database: Database, app: Any, settings: Settings, twilio_server: FakeTwilio) -> Engine:
    return Engine(
        database,
        EngineSettings(
            base_url=str(settings.base_url).rstrip("/"),
            secret_key=app.state.secret_key,
            twilio_api_base=twilio_server.base_url,
        ),
        SenderSettings(worker_id="test", batch_size=100, concurrency=4),
    )
