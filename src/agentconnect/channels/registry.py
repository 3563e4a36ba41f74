"""Which provider sends a company's messages on a channel: configuration, not code."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.channels.base import ChannelProvider
from agentconnect.channels.console import ConsoleProvider
from agentconnect.models import MessageType


async def provider_for(
    session: AsyncSession, company_id: uuid.UUID, channel: MessageType
) -> ChannelProvider:
    # Until a company configures SMTP or Twilio (channel settings come with those providers),
    # every channel goes to the console provider.
    return ConsoleProvider(session)
