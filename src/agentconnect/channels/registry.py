"""Which provider sends a company's messages on a channel: configuration, not code."""

from __future__ import annotations

import uuid

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
from agentconnect.errors import AppError
from agentconnect.models import MessageType


class ProviderFailed(AppError):
    """A provider refused or failed a message sent on a caller's request (test-send)."""

    status, slug = 502, "provider-error"


async def provider_for(
    session: AsyncSession,
    company_id: uuid.UUID,
    channel: MessageType,
    secret_key: str | None = None,
) -> ChannelProvider:
    """The company's provider for `channel`: SMTP when its email settings say so, else the
    console provider (Twilio channels come with their provider).

    `secret_key` (the app secret) decrypts a stored SMTP password. A provider that holds a
    connection has an `async close()`; `close_provider` calls it when there is one.
    """
    if channel == MessageType.EMAIL:
        config = await smtp_config(session, company_id, secret_key)
        if config is not None:
            return SmtpProvider(config.smtp, config.sender)
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
) -> ProviderResult:
    """Send one message through the company's provider for its channel, then close the
    provider; a provider failure becomes a 502 problem answer instead of a 500."""
    provider: ChannelProvider | None = None
    try:
        provider = await provider_for(session, company_id, message.channel, secret_key)
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
