"""What every channel provider offers: send one message, answer with the provider's id.

A provider whose protocol has a point of no return the engine can wait at (SMTP's final
`.` after DATA) also offers `prepare`: the engine records the message as sent between
`prepare` and `commit`, so a crash can neither lose a recorded message nor send one twice
(docs/architecture.md, "Delivery engine").
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

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
    # Email: the Message-ID (without angle brackets) replies and bounces will quote.
    message_id_header: str | None = None
    # Email: extra headers (List-Unsubscribe, List-Unsubscribe-Post, ...).
    headers: Mapping[str, str] = field(default_factory=dict)
    # Which delivery this is (Twilio's callback URLs name it).
    delivery_id: uuid.UUID | None = None
    # Channel extras: a WhatsApp template (`content_sid`, `content_variables`), a voice
    # step's voicemail.
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderResult:
    provider: str
    provider_message_id: str
    status: str = "sent"
    # SMS: the number of segments the provider billed.
    segments: int | None = None


class ProviderError(Exception):
    """A provider refused or failed to take a message.

    `transient`: worth retrying later (timeouts, refused connections, SMTP 4xx, HTTP 429/5xx);
    otherwise permanent (SMTP 5xx, an invalid address) and the delivery fails for good.
    """

    def __init__(
        self,
        reason: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        code: int | None = None,
        suppress_address: bool = False,
        uncertain: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after
        # The provider's own error code (Twilio's 21610, 21211, ...), when it gave one.
        self.code = code
        # The address refuses this channel for good (unsubscribed): the engine suppresses it.
        self.suppress_address = suppress_address
        # No answer after the request left (a timeout, a dropped connection): the provider may
        # have taken the message. Before retrying, the engine asks it (`Reconcilable`).
        self.uncertain = uncertain


class CommitUncertain(ProviderError):
    """The provider passed its point of no return but gave no verdict: the message may have
    been accepted. The engine keeps it recorded as sent rather than risk a second copy."""


class ChannelProvider(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> ProviderResult: ...


@runtime_checkable
class Reconcilable(Protocol):
    """A provider that can tell whether it took a message on an attempt the engine never
    recorded (its sender died after the provider answered): the engine asks before sending
    it again."""

    async def find_sent(
        self, message: OutboundMessage, since: datetime
    ) -> ProviderResult | None: ...


class PreparedSend(Protocol):
    """A message the provider holds just short of its point of no return."""

    async def commit(self) -> ProviderResult:
        """Pass the point of no return; ProviderError if the provider refuses it there."""
        ...

    async def abort(self) -> None:
        """Drop the message: the provider never delivers it."""
        ...


@runtime_checkable
class TwoPhaseProvider(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> ProviderResult: ...

    async def prepare(self, message: OutboundMessage) -> PreparedSend: ...
