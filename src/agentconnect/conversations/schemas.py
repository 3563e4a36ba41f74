"""Wire shapes of conversations and the intents found in them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from agentconnect.kit.schemas import InputSchema, OutputSchema
from agentconnect.models.enums import ConversationChannel


class MessageIn(InputSchema):
    role: Literal["contact", "agent"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    at: AwareDatetime | None = None


class ConversationCreate(InputSchema):
    contact_id: uuid.UUID
    channel: ConversationChannel
    started_at: AwareDatetime
    messages: list[MessageIn] = Field(min_length=1, max_length=2_000)


class IntentMatchOut(OutputSchema):
    intent: str
    confidence: float
    evidence: str


class Conversation(BaseModel):
    id: uuid.UUID
    contact_id: uuid.UUID
    channel: ConversationChannel
    started_at: datetime
    messages: list[dict[str, object]]
    intent_matches: list[IntentMatchOut]
    external_id: str | None = Field(
        default=None, description="the provider's id of the exchange (a Twilio CallSid)"
    )
    details: dict[str, object] = Field(
        default_factory=dict,
        description="channel extras: a call's outcome, who answered, recordings, the answers "
        "the AI agent gathered, the campaign and delivery it belongs to",
    )
    created_at: datetime
