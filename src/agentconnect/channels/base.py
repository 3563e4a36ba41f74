"""What every channel provider offers: send one message, answer with the provider's id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentconnect.models.enums import MessageType


@dataclass(frozen=True)
class OutboundMessage:
    company_id: uuid.UUID
    channel: MessageType
    to: str
    body: str
    subject: str | None = None
    html_body: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderResult:
    provider: str
    provider_message_id: str
    status: str = "sent"


class ChannelProvider(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> ProviderResult: ...
