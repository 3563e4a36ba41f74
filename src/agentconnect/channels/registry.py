"""Which provider sends a company's messages on a channel: configuration, not code."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.channels.base import (
    ChannelProvider,
    OutboundMessage,
    ProviderError,
    ProviderResult,
)
from agentconnect.channels.console import ConsoleProvider
from agentconnect.channels.email_smtp import SmtpProvider
from agentconnect.channels.settings import smtp_config
from agentconnect.channels.twilio_client import TwilioAccount
from agentconnect.channels.twilio_settings import twilio_config
from agentconnect.channels.twilio_sms import TwilioSmsProvider
from agentconnect.channels.twilio_voice import TwilioVoiceProvider
from agentconnect.channels.twilio_whatsapp import TwilioWhatsAppProvider
from agentconnect.errors import AppError
from agentconnect.models import MessageType


class ProviderFailed(AppError):
    """A provider refused or failed a message sent on a caller's request (test-send)."""

    status, slug = 502, "provider-error"


@dataclass(frozen=True)
class ProviderEnvironment:
    """What providers need from the installation: the public URL Twilio calls back, and a
    replacement for Twilio's REST base URL (a fake server in tests, a proxy in staging)."""

    public_base_url: str = "http://127.0.0.1:8000"
    twilio_api_base: str | None = None


_TWILIO_PROVIDERS: dict[MessageType, Callable[[TwilioAccount], ChannelProvider]] = {
    MessageType.SMS: TwilioSmsProvider,
    MessageType.WHATSAPP: TwilioWhatsAppProvider,
    MessageType.VOICE: TwilioVoiceProvider,
}


async def provider_for(
    session: AsyncSession,
    company_id: uuid.UUID,
    channel: MessageType,
    secret_key: str | None = None,
    environment: ProviderEnvironment | None = None,
) -> ChannelProvider:
    """The company's provider for `channel`: SMTP when its email settings say so, Twilio for
    SMS, WhatsApp and voice once its account is set up, else the console provider.

    `secret_key` (the app secret) decrypts a stored SMTP password or Twilio auth token. A
    provider that holds a connection has an `async close()`; `close_provider` calls it.
    """
    if channel == MessageType.EMAIL:
        config = await smtp_config(session, company_id, secret_key)
        if config is not None:
            return SmtpProvider(config.smtp, config.sender)
        return ConsoleProvider(session)
    if secret_key is not None:
        twilio = await twilio_config(session, company_id, secret_key)
        if twilio is not None:
            environment = environment or ProviderEnvironment()
            account = TwilioAccount(
                twilio,
                public_base_url=environment.public_base_url,
                api_base=environment.twilio_api_base,
            )
            return _TWILIO_PROVIDERS[channel](account)
    return ConsoleProvider(session)


async def close_provider(provider: ChannelProvider) -> None:
    close = getattr(provider, "close", None)
    if close is not None:
        await close()


async def send_now(
    session: AsyncSession,
    company_id: uuid.UUID,
    message: OutboundMessage,
    *,
    secret_key: str | None = None,
    environment: ProviderEnvironment | None = None,
) -> ProviderResult:
    """Send one message through the company's provider for its channel, then close the
    provider; a provider failure becomes a 502 problem answer instead of a 500."""
    provider: ChannelProvider | None = None
    try:
        provider = await provider_for(session, company_id, message.channel, secret_key, environment)
        return await provider.send(message)
    except ProviderError as exc:
        name = provider.name if provider is not None else message.channel.value
        raise ProviderFailed(
            f"the {name} provider did not take the message: {exc.reason}",
            transient=exc.transient,
        ) from exc
    finally:
        if provider is not None:
            await close_provider(provider)
