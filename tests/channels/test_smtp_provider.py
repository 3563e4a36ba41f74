"""The SMTP provider against a real SMTP server on loopback (tests/fixtures/smtp.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from agentconnect.channels.base import (
    CommitUncertain,
    OutboundMessage,
    ProviderError,
    TwoPhaseProvider,
)
from agentconnect.channels.email_message import EmailSender
from agentconnect.channels.email_smtp import SmtpProvider, SmtpSettings
from agentconnect.models import MessageType
from tests.fixtures.smtp import SmtpServer

COMPANY = uuid.uuid4()
SENDER = EmailSender(
    from_email="news@crm.example", from_name="Zoë of CRM", reply_to="help@crm.example"
)


def outbound(to: str = "lead@example.com", **fields: object) -> OutboundMessage:
    values: dict[str, object] = {
        "company_id": COMPANY,
        "channel": MessageType.EMAIL,
        "to": to,
        "subject": "Grüße from the CRM",
        "body": "Hello there,\n.a line starting with a dot\nbye",
        "html_body": "<p>Hello <b>there</b>, ünïcode</p>",
        "message_id_header": f"{uuid.uuid4()}@crm.example",
        "headers": {
            "List-Unsubscribe": "<https://crm.example/u/abc>, <mailto:unsub@crm.example>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
    values.update(fields)
    return OutboundMessage(**values)  # type: ignore[arg-type]


@pytest.fixture
async def provider(smtp_server: SmtpServer) -> AsyncIterator[SmtpProvider]:
    p = SmtpProvider(smtp_server.settings(), SENDER)
    yield p
    await p.close()


def test_provider_is_two_phase(provider: SmtpProvider) -> None:
    assert isinstance(provider, TwoPhaseProvider)
    assert provider.name == "smtp"


async def test_send_delivers_headers_and_parts(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    message = outbound()
    result = await provider.send(message)

    assert result.provider == "smtp"
    assert result.provider_message_id == message.message_id_header
    [received] = smtp_server.messages
    assert received.mail_from == "news@crm.example"
    assert received.rcpt_tos == ["lead@example.com"]
    mime = received.message
    assert str(mime["From"]) == "Zoë of CRM <news@crm.example>"
    assert b"Zo=C3=AB" in received.raw or b"=?utf-8?" in received.raw  # encoded on the wire
    assert received.raw.isascii()
    assert str(mime["To"]) == "lead@example.com"
    assert str(mime["Subject"]) == "Grüße from the CRM"
    assert str(mime["Message-ID"]) == f"<{message.message_id_header}>"
    assert str(mime["Reply-To"]) == "help@crm.example"
    assert mime["Date"] is not None
    assert str(mime["List-Unsubscribe"]).startswith("<https://crm.example/u/abc>")
    assert str(mime["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert mime.get_content_type() == "multipart/alternative"
    text = mime.get_body(preferencelist=("plain",))
    html = mime.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert text.get_content_charset() == "utf-8"
    # dot-stuffing is undone by the server: the line keeps its single leading dot
    assert "\n.a line starting with a dot\n" in text.get_content().replace("\r\n", "\n")
    assert "ünïcode" in html.get_content()


async def test_text_only_message_is_text_plain(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    await provider.send(outbound(html_body=None, message_id_header=None, headers={}))
    [received] = smtp_server.messages
    assert received.message.get_content_type() == "text/plain"
    assert received.message.get_content_charset() == "utf-8"
    assert str(received.message["Message-ID"]).endswith("@crm.example>")


async def test_many_messages_share_one_connection(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    for n in range(5):
        await provider.send(outbound(to=f"lead{n}@example.com"))
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == [
        f"lead{n}@example.com" for n in range(5)
    ]
    assert smtp_server.connections == 1
    assert {m.connection for m in smtp_server.messages} == {1}


async def test_reconnects_after_the_server_closed_the_connection(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    await provider.send(outbound())
    smtp_server.fail_next(1, 421, at="data")  # answered 421, then the server hangs up
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound())
    assert error.value.transient
    await provider.send(outbound(to="again@example.com"))
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ["lead@example.com"],
        ["again@example.com"],
    ]
    assert smtp_server.connections == 2


async def test_reconnects_when_an_idle_connection_was_dropped_unnoticed(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    await provider.send(outbound())
    smtp_server.drop_connections()
    # Block the event loop so the client cannot notice the close before its next MAIL FROM.
    time.sleep(0.2)  # noqa: ASYNC251
    assert provider.connected  # as far as the client knows
    await provider.send(outbound(to="again@example.com"))
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ["lead@example.com"],
        ["again@example.com"],
    ]
    assert smtp_server.connections == 2


async def test_prepare_then_commit_delivers_exactly_one(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    message = outbound()
    prepared = await provider.prepare(message)
    await asyncio.sleep(0.1)  # the server holds the content, waiting for the final dot
    assert smtp_server.messages == []
    result = await prepared.commit()
    assert result.provider_message_id == message.message_id_header
    assert len(smtp_server.messages) == 1
    with pytest.raises(RuntimeError):
        await prepared.commit()
    assert len(smtp_server.messages) == 1


async def test_prepare_then_abort_delivers_nothing(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    prepared = await provider.prepare(outbound())
    await prepared.abort()
    await prepared.abort()  # harmless twice
    await smtp_server.wait_for(lambda: smtp_server.disconnections == 1)
    assert smtp_server.messages == []
    # the provider carries on with a new connection
    await provider.send(outbound(to="next@example.com"))
    assert [m.rcpt_tos for m in smtp_server.messages] == [["next@example.com"]]


async def test_client_dying_after_prepare_delivers_nothing(smtp_server: SmtpServer) -> None:
    provider = SmtpProvider(smtp_server.settings(), SENDER)
    await provider.prepare(outbound())
    # The process dies: its socket closes with no terminator and no QUIT.
    smtp = provider._smtp
    assert smtp is not None
    assert smtp.transport is not None
    smtp.transport.abort()
    await smtp_server.wait_for(lambda: smtp_server.disconnections == 1)
    assert smtp_server.messages == []


@pytest.mark.parametrize("code", [421, 450, 451, 452])
@pytest.mark.parametrize("at", ["mail", "rcpt", "data"])
async def test_4xx_is_transient(
    provider: SmtpProvider, smtp_server: SmtpServer, code: int, at: str
) -> None:
    smtp_server.fail_next(1, code, at=at)  # type: ignore[arg-type]
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound())
    assert error.value.transient
    assert str(code) in error.value.reason
    assert "scripted" in error.value.reason  # the server's text
    if code == 421:
        assert not provider.connected
    # the server recovered; so does the provider
    await provider.send(outbound())
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("code", [550, 553, 554])
@pytest.mark.parametrize("at", ["mail", "rcpt", "data"])
async def test_5xx_is_permanent(
    provider: SmtpProvider, smtp_server: SmtpServer, code: int, at: str
) -> None:
    smtp_server.fail_next(1, code, at=at)  # type: ignore[arg-type]
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound())
    assert not error.value.transient
    assert str(code) in error.value.reason
    await provider.send(outbound())
    assert len(smtp_server.messages) == 1
    assert smtp_server.connections == 1  # RSET, not a new connection


async def test_refused_recipient_is_permanent_and_named(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse("gone@example.com")
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound(to="gone@example.com"))
    assert not error.value.transient
    assert "550" in error.value.reason
    assert "gone@example.com" in error.value.reason
    await provider.send(outbound(to="here@example.com"))
    assert [m.rcpt_tos for m in smtp_server.messages] == [["here@example.com"]]


async def test_refusal_at_commit_is_reported_by_commit(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    smtp_server.fail_next(1, 554, at="data")
    prepared = await provider.prepare(outbound())
    with pytest.raises(ProviderError) as error:
        await prepared.commit()
    assert not error.value.transient
    assert smtp_server.messages == []


async def test_connection_refused_is_transient(smtp_server: SmtpServer) -> None:
    port = smtp_server.port
    smtp_server.stop()
    provider = SmtpProvider(SmtpSettings(host="127.0.0.1", port=port, security="none"), SENDER)
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound())
    assert error.value.transient
    assert "connect" in error.value.reason


async def test_slow_server_times_out_transiently(smtp_server: SmtpServer) -> None:
    provider = SmtpProvider(smtp_server.settings(timeout=0.3), SENDER)
    smtp_server.delay(1.0, at="rcpt")
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound())
    assert error.value.transient
    assert "timed out" in error.value.reason
    assert not provider.connected
    smtp_server.delay(0, at="rcpt")
    await provider.send(outbound())
    await provider.close()
    assert len(smtp_server.messages) == 1


async def test_bad_extra_header_is_permanent(provider: SmtpProvider) -> None:
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound(headers={"X-Evil": "a\r\nBcc: victim@example.com"}))
    assert not error.value.transient


async def test_concurrent_providers_use_their_own_connections(
    smtp_server: SmtpServer,
) -> None:
    providers = [SmtpProvider(smtp_server.settings(), SENDER) for _ in range(3)]

    async def run(p: SmtpProvider, n: int) -> None:
        for i in range(4):
            await p.send(outbound(to=f"p{n}-{i}@example.com"))

    await asyncio.gather(*(run(p, n) for n, p in enumerate(providers)))
    for p in providers:
        await p.close()
    assert len(smtp_server.messages) == 12
    assert smtp_server.connections == 3


async def test_auth_and_starttls(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    server = smtp_server_factory(auth=("mailer", "s3cret pass"), tls="starttls")
    provider = SmtpProvider(
        server.settings(security="starttls", username="mailer", password="s3cret pass"), SENDER
    )
    await provider.send(outbound())
    await provider.close()
    [received] = server.messages
    assert received.auth_login == "mailer"


async def test_wrong_password_is_permanent(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    server = smtp_server_factory(auth=("mailer", "s3cret pass"))
    provider = SmtpProvider(server.settings(username="mailer", password="wrong"), SENDER)
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound())
    assert not error.value.transient
    assert "535" in error.value.reason


async def test_untrusted_certificate_is_permanent(
    smtp_server_factory: Callable[..., SmtpServer],
) -> None:
    server = smtp_server_factory(tls="tls")
    provider = SmtpProvider(server.settings(tls_context=None), SENDER)
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound())
    assert not error.value.transient
    assert "certificate" in error.value.reason.lower()


async def test_close_with_a_prepared_send_discards_it(
    provider: SmtpProvider, smtp_server: SmtpServer
) -> None:
    prepared = await provider.prepare(outbound())
    await provider.close()
    with pytest.raises(ProviderError) as error:
        await prepared.commit()
    assert error.value.transient
    await smtp_server.wait_for(lambda: smtp_server.disconnections == 1)
    assert smtp_server.messages == []


async def test_starttls_required_but_not_offered_is_permanent(smtp_server: SmtpServer) -> None:
    provider = SmtpProvider(smtp_server.settings(security="starttls"), SENDER)
    with pytest.raises(ProviderError) as error:
        await provider.send(outbound())
    assert not error.value.transient
    assert "STARTTLS" in error.value.reason
    assert smtp_server.messages == []


async def test_no_answer_after_the_final_dot_is_commit_uncertain(smtp_server: SmtpServer) -> None:
    provider = SmtpProvider(smtp_server.settings(timeout=0.3), SENDER)
    smtp_server.delay(1.0, at="data")  # the content and the final dot arrived; no answer yet
    prepared = await provider.prepare(outbound())
    with pytest.raises(CommitUncertain) as error:
        await prepared.commit()
    assert error.value.transient
    assert "may have accepted" in error.value.reason
    assert not provider.connected
