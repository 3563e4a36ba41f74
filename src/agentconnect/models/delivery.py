"""The delivery engine's tables: the outbox of deliveries and their contents, suppressions,
inbound events and each company's channel settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agentconnect.models.base import Base, IdMixin, TenantMixin, json_default_dict, text_enum
from agentconnect.models.enums import MessageType


class DeliveryStatus(StrEnum):
    """Where one message is on its way out.

    queued → sending (leased by a sender) → sent → delivered; or → failed (permanent error, or
    retries exhausted), → bounced (the provider reported it undeliverable later), or
    → cancelled (its campaign or enrollment ended before it left).
    """

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    CANCELLED = "cancelled"


class SuppressionReason(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBED = "unsubscribed"
    MANUAL = "manual"


class Delivery(IdMixin, TenantMixin, Base):
    """One message of one step for one enrollment: the engine's outbox row, with the state the
    engine moves it through. What the message says is in its `DeliveryContent`, written once:
    the lease and the `sent` record rewrite this narrow row (PostgreSQL writes a whole new
    row version on every update), not the kilobytes of the message."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # The same step of the same enrollment can never be queued twice.
        UniqueConstraint("company_id", "dedupe_key"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The sender's claim across companies: queued rows whose time has come.
        Index("ix_deliveries_queued", "not_before", postgresql_where=text("status = 'queued'")),
        # Reconciliation: leases that ran out.
        Index(
            "ix_deliveries_leased", "lease_expires_at", postgresql_where=text("status = 'sending'")
        ),
        Index(None, "company_id", "campaign_id", "status"),
        # The frequency cap: what a contact was sent recently, across campaigns.
        Index(None, "company_id", "contact_id", "created_at"),
        Index(None, "enrollment_id"),
        # Twilio's status callbacks name the message (or call) by its SID.
        Index(
            "ix_deliveries_provider_message_id",
            "company_id",
            "provider_message_id",
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
        # Replies and bounces name the message by its Message-ID (unique per delivery).
        Index(
            "ix_deliveries_message_id_header",
            "message_id_header",
            unique=True,
            postgresql_where=text("message_id_header IS NOT NULL"),
        ),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("campaign_contacts.id", ondelete="CASCADE")
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="CASCADE")
    )
    lead_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("campaign_messages.id", ondelete="SET NULL")
    )
    step_order: Mapped[int] = mapped_column(Integer)
    channel: Mapped[MessageType] = mapped_column(text_enum(MessageType, "delivery_channel"))
    variant: Mapped[str | None] = mapped_column(String(100))
    # "<enrollment id>:<step order>"
    dedupe_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[DeliveryStatus] = mapped_column(
        text_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.QUEUED
    )
    to_address: Mapped[str] = mapped_column(String(320))
    # Not sent before this instant (the step's time, or the next retry after a transient error).
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leased_by: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(50))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    # The provider's own latest status (Twilio: queued, sent, delivered, read, failed, ...):
    # callbacks may arrive out of order, and this one never moves backwards.
    provider_status: Mapped[str | None] = mapped_column(String(32))
    # SMS: how many segments the provider billed the message as.
    segments: Mapped[int | None] = mapped_column(SmallInteger)
    # The RFC 5322 Message-ID of an email, without angle brackets.
    message_id_header: Mapped[str | None] = mapped_column(String(300))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    # Never loaded behind the caller's back (async sessions cannot); ask for it explicitly.
    content: Mapped[DeliveryContent | None] = relationship(lazy="raise", passive_deletes=True)


class DeliveryContent(TenantMixin, Base):
    """What one delivery says, rendered once when it is queued and never changed."""

    __tablename__ = "delivery_contents"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str | None] = mapped_column(String(1000))
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    # Channel-specific extras (template ids, the voice script, links that may be redirected to,
    # an email's extra headers).
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)


def _company_key() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )


class Suppression(Base):
    """An address the company must not send to again on a channel (hard bounce, complaint)."""

    __tablename__ = "suppressions"

    company_id: Mapped[uuid.UUID] = _company_key()
    channel: Mapped[MessageType] = mapped_column(
        text_enum(MessageType, "suppression_channel"), primary_key=True
    )
    # Normalised: lower-case email, or E.164 phone.
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[SuppressionReason] = mapped_column(
        text_enum(SuppressionReason, "suppression_reason")
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InboundEvent(Base):
    """Every verified webhook event, stored once by the provider's own id before it is
    processed, so a retried or duplicated callback does nothing the second time."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    provider: Mapped[str] = mapped_column(String(50))
    event_id: Mapped[str] = mapped_column(String(300))
    company_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ChannelSetting(Base):
    """A company's configuration of one channel (`email`, `twilio`): plain settings as JSON,
    the secret (SMTP password, Twilio auth token) encrypted with a key derived from the app
    secret."""

    __tablename__ = "channel_settings"

    company_id: Mapped[uuid.UUID] = _company_key()
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
