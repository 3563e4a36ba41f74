"""Email channel settings (GET|PUT /api/v1/channels/email), the registry, and a test-send
through the configured SMTP server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.channels.base import OutboundMessage
from agentconnect.channels.console import ConsoleProvider
from agentconnect.channels.email_smtp import SmtpProvider
from agentconnect.channels.registry import close_provider, provider_for
from agentconnect.config import Settings
from agentconnect.kit.crypto import decrypt_secret
from agentconnect.models import ChannelSetting, MessageType
from tests.campaigns.conftest import email_step, new_campaign
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.world import World

EMAIL = "/api/v1/channels/email"
PASSWORD = "  s3cret smtp pass  "  # spaces are part of it
DEFAULT = {
    "provider": "console",
    "host": None,
    "port": None,
    "security": "starttls",
    "username": None,
    "password_set": False,
    "from_email": None,
    "from_name": None,
    "reply_to": None,
    "updated_at": None,
}


def smtp_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "provider": "smtp",
        "host": "smtp.mail.example",
        "port": 587,
        "security": "starttls",
        "username": "mailer",
        "password": PASSWORD,
        "from_email": "News@Company-A.example",
        "from_name": "Company A",
        "reply_to": "help@company-a.example",
    }
    body.update(fields)
    return body


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    return {str(err["loc"][-1]) for err in body["errors"] if err["loc"]}


async def stored_row(session: AsyncSession, company_id: Any) -> ChannelSetting | None:
    session.expire_all()
    row: ChannelSetting | None = await session.scalar(
        select(ChannelSetting).where(
            ChannelSetting.company_id == company_id, ChannelSetting.channel == "email"
        )
    )
    return row


# --- GET / PUT -------------------------------------------------------------------------------


async def test_default_is_the_console_provider(world: World) -> None:
    response = await world.a.admin.get(EMAIL)
    assert response.status_code == 200, response.text
    assert response.json() == DEFAULT


async def test_put_smtp_then_get_never_shows_the_password(world: World) -> None:
    response = await world.a.admin.put(EMAIL, json=smtp_body())
    assert response.status_code == 200, response.text
    for answer in (response.json(), (await world.a.admin.get(EMAIL)).json()):
        assert "password" not in answer
        assert PASSWORD.strip() not in str(answer)
        assert answer["password_set"] is True
        assert answer["provider"] == "smtp"
        assert answer["host"] == "smtp.mail.example"
        assert answer["port"] == 587
        assert answer["from_email"] == "news@company-a.example"  # normalised
        assert answer["updated_at"] is not None


async def test_stored_ciphertext_is_not_the_password(
    world: World, session: AsyncSession, settings: Settings
) -> None:
    await world.a.admin.put(EMAIL, json=smtp_body())
    row = await stored_row(session, world.a.id)
    assert row is not None
    assert row.secret_ciphertext is not None
    assert PASSWORD.encode() not in row.secret_ciphertext
    assert PASSWORD.strip().encode() not in row.secret_ciphertext
    assert "password" not in row.settings
    context = f"channel_settings:{world.a.id}:email".encode()
    secret = settings.resolved_secret_key()
    assert decrypt_secret(row.secret_ciphertext, secret, context=context) == PASSWORD


async def test_omitted_password_is_kept_and_null_clears_it(
    world: World, session: AsyncSession
) -> None:
    await world.a.admin.put(EMAIL, json=smtp_body())
    before = await stored_row(session, world.a.id)
    assert before is not None
    ciphertext = before.secret_ciphertext

    kept = smtp_body(host="smtp2.mail.example")
    del kept["password"]
    answer = (await world.a.admin.put(EMAIL, json=kept)).json()
    assert answer["password_set"] is True
    assert answer["host"] == "smtp2.mail.example"
    after = await stored_row(session, world.a.id)
    assert after is not None
    assert after.secret_ciphertext == ciphertext

    cleared = (await world.a.admin.put(EMAIL, json=smtp_body(username=None, password=None))).json()
    assert cleared["password_set"] is False
    row = await stored_row(session, world.a.id)
    assert row is not None
    assert row.secret_ciphertext is None


async def test_back_to_console_keeps_the_smtp_details(world: World) -> None:
    await world.a.admin.put(EMAIL, json=smtp_body())
    body = smtp_body(provider="console")
    del body["password"]
    answer = (await world.a.admin.put(EMAIL, json=body)).json()
    assert answer["provider"] == "console"
    assert answer["host"] == "smtp.mail.example"
    assert answer["password_set"] is True


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        (["host"], {"host"}),
        (["port"], {"port"}),
        (["from_email"], {"from_email"}),
        (["host", "port", "from_email"], {"host", "port", "from_email"}),
        (["password"], {"password"}),  # a username with no password stored
    ],
)
async def test_smtp_without_required_fields_is_422_naming_them(
    world: World, drop: list[str], missing: set[str]
) -> None:
    body = smtp_body()
    for name in drop:
        del body[name]
    problem = assert_problem(await world.a.admin.put(EMAIL, json=body), 422)
    assert error_fields(problem) == missing
    for name in missing:
        assert name in problem["detail"]
    assert (await world.a.admin.get(EMAIL)).json() == DEFAULT  # nothing stored


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("provider", "sendgrid"),
        ("provider", None),
        ("port", 0),
        ("port", 65536),
        ("port", "587"),
        ("port", 25.5),
        ("port", True),
        ("security", "ssl"),
        ("host", "smtp://mail.example"),
        ("host", "mail example.com"),
        ("host", "-bad.example"),
        ("host", "a" * 64 + ".example"),
        ("host", ""),
        ("host", 42),
        ("from_email", "not-an-address"),
        ("reply_to", "two@@example.com"),
        ("from_name", "Sales\r\nBcc: victim@example.com"),
        ("username", "user\nname"),
        ("password", ""),
        ("password", "line\r\nbreak"),
        ("password", 12345678),
        ("password", "x" * 1001),
        ("unknown_field", "x"),
        ("from_name", "nul\x00char"),
    ],
)
async def test_bad_input_is_422(world: World, field: str, value: Any) -> None:
    problem = assert_problem(await world.a.admin.put(EMAIL, json=smtp_body(**{field: value})), 422)
    assert problem["errors"]
    assert (await world.a.admin.get(EMAIL)).json() == DEFAULT


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "Mail.Example.COM."])
async def test_host_names_and_addresses_are_accepted(world: World, host: str) -> None:
    response = await world.a.admin.put(EMAIL, json=smtp_body(host=host))
    assert response.status_code == 200, response.text
    assert response.json()["host"] in {"127.0.0.1", "::1", "localhost", "mail.example.com"}


async def test_body_that_is_not_json_is_422(world: World) -> None:
    response = await world.a.admin.put(
        EMAIL, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("role", ["manager", "agent"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_only_admins(world: World, role: str, method: str) -> None:
    client: httpx.AsyncClient = getattr(world.a, role)
    body = smtp_body() if method == "PUT" else None
    problem = assert_problem(await client.request(method, EMAIL, json=body), 403)
    assert "admin" in problem["detail"]
    assert (await world.a.admin.get(EMAIL)).json() == DEFAULT


async def test_anonymous_is_401(world: World) -> None:
    assert_problem(await world.anonymous.get(EMAIL), 401)
    assert_problem(await world.anonymous.put(EMAIL, json=smtp_body()), 401)


async def test_companies_do_not_see_or_touch_each_other(world: World) -> None:
    await world.a.admin.put(EMAIL, json=smtp_body())
    assert (await world.b.admin.get(EMAIL)).json() == DEFAULT
    b_body = smtp_body(host="smtp.b.example", from_email="news@b.example")
    del b_body["username"], b_body["password"]
    await world.b.admin.put(EMAIL, json=b_body)
    a_view = (await world.a.admin.get(EMAIL)).json()
    assert a_view["host"] == "smtp.mail.example"
    assert a_view["password_set"] is True
    b_view = (await world.b.admin.get(EMAIL)).json()
    assert b_view["host"] == "smtp.b.example"
    assert b_view["password_set"] is False


# --- the registry ----------------------------------------------------------------------------


async def test_registry_gives_console_until_smtp_is_configured(
    world: World, session: AsyncSession, settings: Settings
) -> None:
    secret = settings.resolved_secret_key()
    for channel in MessageType:
        provider = await provider_for(session, world.a.id, channel, secret)
        assert isinstance(provider, ConsoleProvider)
    await world.a.admin.put(EMAIL, json={**smtp_body(), "provider": "console"})
    assert isinstance(
        await provider_for(session, world.a.id, MessageType.EMAIL, secret), ConsoleProvider
    )


async def test_registry_smtp_provider_sends_with_the_stored_password(
    world: World,
    session: AsyncSession,
    settings: Settings,
    smtp_server_factory: Callable[..., SmtpServer],
) -> None:
    server = smtp_server_factory(auth=("mailer", PASSWORD))
    body = smtp_body(host=server.host, port=server.port, security="none")
    assert (await world.a.admin.put(EMAIL, json=body)).status_code == 200
    secret = settings.resolved_secret_key()

    provider = await provider_for(session, world.a.id, MessageType.EMAIL, secret)
    assert isinstance(provider, SmtpProvider)
    assert provider.settings.password == PASSWORD
    # another company still has the console provider
    assert isinstance(
        await provider_for(session, world.b.id, MessageType.EMAIL, secret), ConsoleProvider
    )
    try:
        await provider.send(
            OutboundMessage(
                company_id=world.a.id,
                channel=MessageType.EMAIL,
                to="lead@example.com",
                subject="Hi",
                body="Hello",
            )
        )
    finally:
        await close_provider(provider)
    [received] = server.messages
    assert received.auth_login == "mailer"
    assert received.mail_from == "news@company-a.example"
    assert str(received.message["From"]) == "Company A <news@company-a.example>"
    assert str(received.message["Reply-To"]) == "help@company-a.example"


async def test_test_send_goes_through_the_configured_smtp_server(
    world: World, smtp_server: SmtpServer
) -> None:
    body = smtp_body(host=smtp_server.host, port=smtp_server.port, security="none")
    del body["username"], body["password"]
    await world.a.admin.put(EMAIL, json=body)
    campaign = await new_campaign(world.a.manager)
    step = await email_step(world.a.manager, campaign["id"])
    response = await world.a.manager.post(
        f"/api/v1/campaigns/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "tester@x.example"},
    )
    assert response.status_code == 200, response.text
    sent = response.json()
    assert sent["provider"] == "smtp"
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["tester@x.example"]
    assert str(received.message["Message-ID"]) == f"<{sent['provider_message_id']}>"
    await smtp_server.wait_for(lambda: smtp_server.disconnections == 1)  # closed after use
    outbox = (await world.a.manager.get("/api/v1/channels/console/messages")).json()
    assert outbox["total"] == 0


async def test_test_send_refused_by_the_server_is_502_not_500(
    world: World, smtp_server: SmtpServer
) -> None:
    body = smtp_body(host=smtp_server.host, port=smtp_server.port, security="none")
    del body["username"], body["password"]
    await world.a.admin.put(EMAIL, json=body)
    smtp_server.refuse("tester@x.example")
    campaign = await new_campaign(world.a.manager)
    step = await email_step(world.a.manager, campaign["id"])
    response = await world.a.manager.post(
        f"/api/v1/campaigns/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "tester@x.example"},
    )
    problem = assert_problem(response, 502)
    assert "550" in problem["detail"]
    assert problem["transient"] is False
