"""Conversations with their detected intents, lead scores, and each company's scoring config."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from agentconnect.models.base import (
    Base,
    IdMixin,
    TenantMixin,
    json_default_dict,
    json_default_list,
    text_enum,
)
from agentconnect.models.enums import ConversationChannel, ScoreType


class Conversation(IdMixin, TenantMixin, Base):
    """A transcript of an exchange with a contact: an AI agent's call, a text thread, a chat."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index(None, "company_id", "contact_id", "started_at"),
        Index(
            "ix_conversations_external_id",
            "company_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="CASCADE")
    )
    lead_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="SET NULL")
    )
    channel: Mapped[ConversationChannel] = mapped_column(
        text_enum(ConversationChannel, "conversation_channel")
    )
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=json_default_list)
    # The provider's id of the exchange (a Twilio CallSid): one session per call, however often
    # Twilio repeats a callback.
    external_id: Mapped[str | None] = mapped_column(String(100))
    # Channel extras: the agent's state between turns, recordings, the delivery it came from.
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=json_default_dict, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IntentMatch(IdMixin, TenantMixin, Base):
    """An intent the detector found in the contact's words, with the words that show it."""

    __tablename__ = "intent_matches"
    __table_args__ = (
        CheckConstraint("confidence BETWEEN 0 AND 1", name="confidence_range"),
        Index(None, "company_id", "contact_id", "detected_at"),
        Index(None, "company_id", "conversation_id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="CASCADE")
    )
    intent: Mapped[str] = mapped_column(String(50))
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LeadScore(IdMixin, TenantMixin, Base):
    """One score of one type for a lead, with the factors that make up every point."""

    __tablename__ = "lead_scores"
    __table_args__ = (
        CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
        Index(None, "company_id", "lead_id", "score_type", "computed_at"),
    )

    # Bulk qualification COPYs hundreds of thousands of rows without an id: the server makes it.
    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        primary_key=True,
        default=uuid.uuid4,
        server_default=func.gen_random_uuid(),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="CASCADE")
    )
    score_type: Mapped[ScoreType] = mapped_column(text_enum(ScoreType, "score_type"))
    score: Mapped[int] = mapped_column(SmallInteger)
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=json_default_list)
    reasoning: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class LeadScoreFingerprints(TenantMixin, Base):
    """What the newest stored score of each type says for one lead (the manual score aside):
    score type -> fingerprint of its score and factors (scoring.repository.fingerprint).
    Scoring compares what it computes with these and writes a score row only when they differ;
    one row per lead is read, where finding the newest row of each type in the history grows
    with the history. `scored_at` is the transaction time of the run that wrote them last."""

    __tablename__ = "lead_score_fingerprints"
    __table_args__ = (PrimaryKeyConstraint("company_id", "lead_id"),)

    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="CASCADE")
    )
    fingerprints: Mapped[dict[str, str]] = mapped_column(JSONB)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScoringConfig(Base):
    """A company's weights, thresholds and rules; absent keys take the defaults."""

    __tablename__ = "scoring_configs"

    company_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
